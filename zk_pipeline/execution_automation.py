"""Execution in Dagster: ``execution_job`` executes one requested decision; a sensor starts it.

Why a sensor-driven job and not an ``allocation_execution`` asset in the hourly graph:

* ``allocation_job`` selects every asset and the catch-up automation targets every asset. An
  execution asset there would be re-materialized by every re-run and backfill of an hour (each a
  new attempt to move funds), an execution off or refused would leave the hour "missing" or
  "failed" for the catch-up automation, and a node outage would fail an hour whose decision is
  already recorded and proven. Sending is a separate act on a recorded decision, not a step of
  computing one.
* Every execution, asked by an admin (``POST /risk-engine/execute-allocation``) or automatic
  (``ZKP_EXECUTION_AUTO``), is then the same thing: a request row, one run (run key
  ``execution-<request id>``), one op in the ``starknet_sender`` pool.

So the step after ``allocation_decision`` is this job: with ``ZKP_EXECUTION_AUTO`` on (off by
default), ``execution_requests_sensor`` records a request (origin ``auto``) for every decision
recorded since it was switched on, and runs it like any other; a dry run unless
``ZKP_EXECUTION_SEND`` is on. Off, nothing is executed unless an admin asks, and the hourly graph
never knows the difference.

The op runs in the pool ``starknet_sender``, whose limit is 1 (``deploy/dagster.yaml``), so two runs
never sign with the account at once and nonces never race; ``execution.records.exclusive`` holds
PostgreSQL advisory locks on the decision and the account besides, for anything that runs outside
Dagster (``zkp execute``). The run config names the request only; the key, its password and the
node URLs are read from the settings inside the run and never enter the run config or metadata.
Its metadata: the decision, the transaction hash, status, nonce, chain, block, and the fee (the
receipt's actual fee, or, for a dry run, the most the resource bounds allow).
"""

# No ``from __future__ import annotations``: Dagster reads the op's config and resource types from its annotations.
import json
from datetime import datetime, timedelta

from dagster import (
    Config, DefaultSensorStatus, Failure, MetadataValue, OpExecutionContext, Output, RunFailureSensorContext,
    RunRequest, SensorEvaluationContext, SensorResult, SkipReason, job, op, run_failure_sensor, sensor,
)
from dagster._core.storage.tags import WILL_RETRY_TAG

from zk_pipeline.redaction import public_text
from zk_pipeline.resources import DatabaseResource
from zk_pipeline.services import dagster_runs, executions

POOL = "starknet_sender"
#: How far each ``ZKP_EXECUTION_AUTO`` tick looks back before the previous one.
AUTO_OVERLAP = timedelta(minutes=10)
OP_NAME = "execute_requested_decision"


class ExecutionRequestConfig(Config):
    request_id: str


def execution_metadata(row) -> dict:
    """The run's record of an execution: transaction, status and fee (never the key: the row holds none).

    ``fee``: the receipt's actual fee once there is one; before (a dry run, no receipt yet), the most
    the transaction's resource bounds allow, in FRI.
    """
    bounds = row.resource_bounds or {}
    most = sum(int(b["max_amount"], 16) * int(b["max_price_per_unit"], 16) for b in bounds.values())
    actual = row.actual_fee
    fee = (f"{int(actual['amount'], 16)} {actual.get('unit', 'FRI')}" if actual and actual.get("amount")
           else f"not charged; at most {most} FRI")
    return {"decision_id": row.decision_id, "status": row.status.value, "transaction_hash": row.transaction_hash or "",
            "fee": fee, "max_fee_fri": most, "nonce": row.nonce, "chain_id": row.chain_id or "",
            "block_number": row.block_number, "sender_address": row.sender_address, "target": row.target,
            "resource_bounds": MetadataValue.json(bounds), "error": row.error or ""}


@op(pool=POOL)
def execute_requested_decision(context: OpExecutionContext, config: ExecutionRequestConfig,
                               database: DatabaseResource) -> Output[str]:
    """Execute the decision of one request (``execution.service.execute_decision``) and close the request."""
    # Imported here: starknet-py takes a second or more to import, which the code location need not pay.
    from zk_pipeline.execution import records
    from zk_pipeline.execution.gate import ExecutionRefused
    from zk_pipeline.execution.records import ExecutionBusy
    from zk_pipeline.execution.service import ExecutionFailed, execute_decision
    from zk_pipeline.redaction import public_text
    from zk_pipeline.settings import get_settings

    request_id = config.request_id
    with database.session() as s:
        request = executions.take_up(s, request_id, context.run_id)
        taken = None if request is None else (request.decision_id, request.send)
    if taken is None:
        context.log.info(f"execution request {request_id}: nothing to do (gone or closed already)")
        return Output(request_id, metadata={"request_id": request_id, "executed": False})
    decision_id, send = taken
    settings = get_settings()
    try:
        if send and not settings.execution.send:
            raise ExecutionFailed(f"request {request_id} asks to send, but ZKP_EXECUTION_SEND is off in this run's "
                                  "settings; nothing was sent")
        report = execute_decision(decision_id, send=send, settings=settings, database_url=database.url,
                                  log=context.log)
    except (ExecutionRefused, ExecutionBusy, ExecutionFailed) as exc:
        reason = public_text(str(exc), limit=2000) or type(exc).__name__
        with database.session() as s:
            executions.close(s, request_id, reason)
        raise Failure(description=reason, metadata={"decision_id": decision_id, "request_id": request_id},
                      allow_retries=False) from None
    with database.session() as s:
        executions.close(s, request_id)
        metadata = execution_metadata(records.get(s, decision_id))
    context.log.info(f"decision {decision_id}: {report.status}, transaction {report.transaction_hash}")
    return Output(decision_id, metadata={**metadata, "request_id": request_id, "send": send})


@job(description="One execution request: a verified decision signed and sent (or dry-run) to Starknet, "
                 "in the starknet_sender pool (limit 1).")
def execution_job():
    execute_requested_decision()


def auto_requests(context: SensorEvaluationContext, session) -> list[str]:
    """With ``ZKP_EXECUTION_AUTO`` on: requests for the decisions recorded since the last tick; their ids.

    The sensor's cursor holds when auto was switched on and when the last tick looked. The first tick
    after switching on only sets it, so decisions recorded before (last week's, while it was off) are
    never executed by it; switching off clears it. Each tick looks back ``AUTO_OVERLAP`` before the last
    one (a decision's ``recorded_at`` is its transaction's start, which may commit later); a decision
    with a request or an execution already is never requested twice.
    """
    from zk_pipeline.settings import get_settings

    cfg = get_settings().execution
    if not cfg.auto:
        if context.cursor:
            context.log.info("ZKP_EXECUTION_AUTO is off: decisions are executed only when requested")
        context.update_cursor(None)
        return []
    now = executions.database_now(session)
    state = json.loads(context.cursor) if context.cursor else None
    if state is None:
        context.log.info("ZKP_EXECUTION_AUTO is on: every decision recorded from now on is executed")
        context.update_cursor(json.dumps({"activated": now.isoformat(), "checked": now.isoformat()}))
        return []
    after = max(datetime.fromisoformat(state["activated"]), datetime.fromisoformat(state["checked"]) - AUTO_OVERLAP)
    made = executions.record_auto_requests(session, after, send=cfg.send)
    context.update_cursor(json.dumps({"activated": state["activated"], "checked": now.isoformat()}))
    if made:
        context.log.info(f"ZKP_EXECUTION_AUTO: execution requested for decisions {', '.join(made)}")
    return made


@sensor(job=execution_job, minimum_interval_seconds=5, default_status=DefaultSensorStatus.RUNNING)
def execution_requests_sensor(context: SensorEvaluationContext, database: DatabaseResource):
    """One run of ``execution_job`` per pending execution request (with ``ZKP_EXECUTION_AUTO``, first a
    request for each decision recorded since the last tick)."""
    instance, launch = context.instance, []
    with database.session() as s:
        auto_requests(context, s)
        for request_id, origin in executions.pending_requests(s):
            run_id = dagster_runs.run_tagged(instance, executions.REQUEST_TAG, request_id)
            if run_id is not None:
                executions.mark_launched(s, request_id, run_id)
                continue
            launch.append(RunRequest(
                run_key=f"execution-{request_id}",
                tags={executions.REQUEST_TAG: request_id, dagster_runs.LAUNCHED_BY_TAG: origin},
                run_config={"ops": {OP_NAME: {"config": {"request_id": request_id}}}}))
    if not launch:
        return SkipReason("no execution request waits for a run")
    return SensorResult(run_requests=launch)


def run_error(context: RunFailureSensorContext) -> str:
    """What a failed run says went wrong: its steps' errors, else the run failure's own message."""
    parts = []
    for event in context.get_step_failure_events():
        error = event.step_failure_data.error if event.step_failure_data else None
        while error is not None and error.cause is not None:  # Dagster's wrapper around the op's own error
            error = error.cause
        text = error.message.strip() if error is not None else (event.message or "")
        parts.append(f"{event.step_key}: {text}" if event.step_key else text)
    if not parts:
        parts.append(context.failure_event.message or context.dagster_run.status.value)
    return "; ".join(p for p in parts if p)


@run_failure_sensor(monitored_jobs=[execution_job], minimum_interval_seconds=5,
                    default_status=DefaultSensorStatus.RUNNING)
def execution_run_failures_sensor(context: RunFailureSensorContext, database: DatabaseResource):
    """Close as failed the request of an ``execution_job`` run that failed for good.

    The op closes its request itself, on success and on a refusal; a run whose process died (or
    whose step failed before the op could close anything) leaves it ``launched``. Dagster's run retry
    takes such a run up again, so a failure marked to be retried (``dagster/will_retry``) is left to the
    retry; the last failure closes the request with the run's error, secrets removed, so
    ``GET /risk-engine/execution/{decision_id}`` reports it without the decision being requested again.
    """
    run = context.dagster_run
    request_id = run.tags.get(executions.REQUEST_TAG)
    if not request_id:
        return SkipReason(f"run {run.run_id} executes no request")
    if run.tags.get(WILL_RETRY_TAG) == "true":
        return SkipReason(f"run {run.run_id} failed and will be retried; request {request_id} stays open")
    error = public_text(run_error(context), limit=1500) or "the run failed"
    with database.session() as s:
        closed = executions.close_after_failed_run(s, context.instance, request_id, run.run_id, error)
    if not closed:
        return SkipReason(f"request {request_id} was closed already, or a newer run has it")
    context.log.info(f"execution request {request_id} closed as failed: run {run.run_id} failed")
    return None
