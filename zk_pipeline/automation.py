"""When the graph runs: an hourly schedule, and a sensor that catches up.

The schedule materializes each hour a few minutes after it closes. It only
fires while the daemon is up, so the catch-up sensor looks back over the last
``CATCH_UP_HOURS`` complete hours and requests a run for every partition
that has neither a recorded decision nor any run of ``allocation_job`` (from
the schedule, a backfill, the API or itself; queued, running, failed or
done). So an hour the schedule is still proving is not launched twice, and a
partition whose run failed is left for a person (or a backfill) to look at
instead of being retried forever. The run key is the partition key as well,
and hours before the partitions start are never requested.

A run whose process died (not a step that failed) is marked failed by the
daemon's run monitoring and launched again by Dagster's run retries, at
most twice (``dagster.yaml``); ``interrupted_proofs_sensor`` closes the proof
job such a run left open as ``interrupted``, with the run's failure as the
reason, so it does not stay ``running`` for ever.
"""

import os
from datetime import datetime, timedelta, timezone

from dagster import (
    AssetKey,
    DagsterInstance,
    RunsFilter,
    AssetSelection,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunFailureSensorContext,
    RunRequest,
    SensorEvaluationContext,
    SkipReason,
    build_schedule_from_partitioned_job,
    define_asset_job,
    run_failure_sensor,
    sensor,
)

from zk_pipeline.assets.partitions import PARTITIONS_START
from zk_pipeline.db import proofs
from zk_pipeline.db.session import session_scope
from zk_pipeline.run_health import run_worker, worker_alive
from zk_pipeline.pool_wait import sleeping_in_process_executor

CATCH_UP_HOURS = 6

#: In-process executor: the graph is a chain (nothing to run in parallel) and the
#: prover already runs in a child process, so a process per step would only add
#: ~4 s of start-up to each of the seven steps. Its wait for the ``prover`` pool sleeps (``pool_wait``).
allocation_job = define_asset_job(
    "allocation_job",
    selection=AssetSelection.all(),
    executor_def=sleeping_in_process_executor,
    description="Metrics → features → risk → allocation → proof → fact → decision for one hour.",
)

hourly_schedule = build_schedule_from_partitioned_job(
    allocation_job, minute_of_hour=5, default_status=DefaultScheduleStatus.RUNNING
)


def hours_to_catch_up(now: datetime, done: set[str], hours: int = CATCH_UP_HOURS) -> list[str]:
    """The last ``hours`` complete hours (oldest first) not in ``done`` and not before the partitions start."""
    first = datetime.strptime(PARTITIONS_START, "%Y-%m-%d-%H:%M").replace(tzinfo=timezone.utc)
    last_complete = now.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    hours_back = [last_complete - timedelta(hours=i) for i in range(hours)]
    keys = [h.strftime("%Y-%m-%d-%H:%M") for h in reversed(hours_back) if h >= first]
    return [k for k in keys if k not in done]


def partitions_with_runs(instance: DagsterInstance, keys: list[str]) -> set[str]:
    """Those of ``keys`` that already have a run of ``allocation_job``, whatever launched it and whatever its state."""
    return {k for k in keys if instance.get_runs_count(
        RunsFilter(job_name=allocation_job.name, tags={"dagster/partition": k}))}


def catch_up_keys(instance: DagsterInstance, now: datetime) -> list[str]:
    """The partitions the sensor requests at ``now``: recent, without a decision, without any run."""
    keys = hours_to_catch_up(now, instance.get_materialized_partitions(AssetKey("allocation_decision")))
    started = partitions_with_runs(instance, keys)
    return [k for k in keys if k not in started]


@sensor(job=allocation_job, minimum_interval_seconds=300, default_status=DefaultSensorStatus.RUNNING)
def catch_up_sensor(context: SensorEvaluationContext):
    keys = catch_up_keys(context.instance, datetime.now(timezone.utc))
    if not keys:
        return SkipReason(f"every one of the last {CATCH_UP_HOURS} hours has a decision or a run")
    return [RunRequest(run_key=k, partition_key=k) for k in keys]


def close_proofs_of_run(url: str, run_id: str, reason: str) -> list[str]:
    """Close the proof jobs a failed run left unfinished as ``interrupted`` (ids returned)."""
    with session_scope(url) as s:
        return proofs.interrupt(s, reason[:2000], run_id=run_id)


@run_failure_sensor(monitored_jobs=[allocation_job], minimum_interval_seconds=15,
                    default_status=DefaultSensorStatus.RUNNING)
def interrupted_proofs_sensor(context: RunFailureSensorContext):
    run = context.dagster_run
    reason = f"run {run.run_id} failed: {context.failure_event.message}"
    worker = run_worker(context.instance, run.run_id)
    if worker is not None and not worker_alive(*worker):
        reason += f" (run worker process {worker[0]} is gone)"
    closed = close_proofs_of_run(os.environ["DATABASE_URL"], run.run_id, reason)
    if closed:
        context.log.info(f"proof jobs of failed run {run.run_id} closed as interrupted: {', '.join(closed)}")
