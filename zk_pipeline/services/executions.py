"""Execution requests: "execute this decision" is recorded here; one Dagster run of ``execution_job`` does it.

The API never signs nor sends. ``request_execution`` refuses a decision that is unknown or settled
on chain (accepted or reverted), returns the decision's open request when there is one (pending, or
launched with its run still going), and otherwise records a pending request. One pending request
per decision is a partial unique index, so two API processes asking at once get the same request.
``execution_requests_sensor`` (``zk_pipeline/execution_automation.py``) turns each pending request
into exactly one run (run key ``execution-<id>``), whose op takes the request up, calls
``execution.service.execute_decision`` and closes the request. ``execution_view`` is what
``GET /risk-engine/execution/{decision_id}`` reports: the ``executions`` row and the latest request.

Sending is a deployment's decision, not a caller's: a request may ask to send only where
``ZKP_EXECUTION_SEND`` is on (and then sends by default); elsewhere every request is a dry run.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from zk_pipeline.db.models import (
    AllocationDecision, Execution, ExecutionRequest, ExecutionRequestState, ExecutionStatus,
)
from zk_pipeline.redaction import public_text
from zk_pipeline.services import dagster_runs
from zk_pipeline.services.errors import Conflict, NotFound
from zk_pipeline.settings import ExecutionSettings

EXECUTION_JOB = "execution_job"
#: Tag of an execution run: the request it executes (a run retry carries its parent's tags).
REQUEST_TAG = "zkp/execution_request_id"
OPEN = (ExecutionRequestState.pending, ExecutionRequestState.launched)
#: A decision whose transaction has a receipt: nothing more can be done for it.
SETTLED = (ExecutionStatus.accepted, ExecutionStatus.reverted)


@dataclass(frozen=True)
class Requested:
    request: ExecutionRequest
    #: True: the decision's open request is returned; nothing new was recorded.
    existing: bool


@dataclass(frozen=True)
class ExecutionView:
    decision_id: str
    #: The ``executions`` row's status; else ``requested`` (a request waits for or is in its run) or
    #: ``refused`` (the latest request's run ended without recording a transaction: see its error).
    status: str
    execution: Execution | None
    request: ExecutionRequest | None


def _now() -> datetime:
    return datetime.now(timezone.utc)


def latest_request(session: Session, decision_id: str) -> ExecutionRequest | None:
    return session.scalar(select(ExecutionRequest).where(ExecutionRequest.decision_id == decision_id)
                          .order_by(ExecutionRequest.created_at.desc(), ExecutionRequest.id).limit(1))


def open_request(session: Session, instance, decision_id: str) -> ExecutionRequest | None:
    """The decision's pending request, or its launched one whose run goes on.

    ``instance``: Dagster's, to see whether a launched request's run is still going (None: a launched
    request counts as open). A launched request whose run has ended without closing it (its process
    died, and so did its retries) is closed here as failed, with the run's status.
    """
    request = session.scalar(select(ExecutionRequest).where(
        ExecutionRequest.decision_id == decision_id, ExecutionRequest.state.in_(OPEN),
    ).order_by(ExecutionRequest.created_at.desc()).limit(1).with_for_update())
    if request is None or request.state == ExecutionRequestState.pending or instance is None:
        return request
    run_id = dagster_runs.run_tagged(instance, REQUEST_TAG, request.id)
    state = dagster_runs.run_state(instance, run_id) if run_id else None
    if state is None or not state.finished:
        return request
    request.state, request.finished_at = ExecutionRequestState.failed, _now()
    request.error = f"run {run_id} ended ({state.status}) without closing the request"
    return None


def request_execution(session: Session, instance, decision_id: str, send: bool | None, cfg: ExecutionSettings,
                      origin: str = "api") -> Requested:
    """Record a request to execute ``decision_id`` (see the module docstring); commits nothing itself."""
    decision = session.get(AllocationDecision, decision_id)
    if decision is None:
        raise NotFound(f"decision {decision_id} not found")
    row = session.get(Execution, decision_id)
    if decision.transaction_hash or (row is not None and row.status in SETTLED):
        status = row.status.value if row is not None else "accepted"
        raise Conflict(f"decision {decision_id} is settled on chain ({status}: transaction "
                       f"{decision.transaction_hash or row.transaction_hash}); it is not executed again")
    if send and not cfg.send:
        raise Conflict("sending is off in this deployment (ZKP_EXECUTION_SEND is not true): "
                             "omit `send` or set it to false for a dry run")
    send = cfg.send if send is None else send
    existing = open_request(session, instance, decision_id)
    if existing is not None:
        return Requested(existing, existing=True)
    request_id = str(uuid.uuid4())
    inserted = session.scalar(
        insert(ExecutionRequest).values(id=request_id, decision_id=decision_id, send=send, origin=origin,
                                        state=ExecutionRequestState.pending)
        .on_conflict_do_nothing(index_elements=["decision_id"],
                                index_where=ExecutionRequest.state == ExecutionRequestState.pending)
        .returning(ExecutionRequest.id))
    if inserted is None:  # another API process recorded a request for this decision a moment ago
        return Requested(open_request(session, None, decision_id), existing=True)
    return Requested(session.get(ExecutionRequest, request_id), existing=False)


def record_auto_requests(session: Session, after: datetime, send: bool, limit: int = 100) -> list[str]:
    """Requests (origin ``auto``) for decisions recorded after ``after`` that have neither an execution
    nor a request; their decision ids. ``ZKP_EXECUTION_AUTO``'s sensor calls it on every tick."""
    fresh = session.scalars(select(AllocationDecision.decision_id).where(
        AllocationDecision.recorded_at > after, AllocationDecision.transaction_hash.is_(None),
        ~select(Execution.decision_id).where(Execution.decision_id == AllocationDecision.decision_id).exists(),
        ~select(ExecutionRequest.id).where(ExecutionRequest.decision_id == AllocationDecision.decision_id).exists(),
    ).order_by(AllocationDecision.recorded_at).limit(limit)).all()
    for decision_id in fresh:
        session.execute(insert(ExecutionRequest).values(
            id=str(uuid.uuid4()), decision_id=decision_id, send=send, origin="auto",
            state=ExecutionRequestState.pending,
        ).on_conflict_do_nothing(index_elements=["decision_id"],
                                 index_where=ExecutionRequest.state == ExecutionRequestState.pending))
    return list(fresh)


def database_now(session: Session) -> datetime:
    """The database's clock, the one ``recorded_at`` is written by."""
    return session.scalar(select(func.now()))


def pending_requests(session: Session, limit: int = 100) -> list[tuple[str, str]]:
    """(request id, origin) of the requests no run has taken up yet, oldest first."""
    rows = session.execute(select(ExecutionRequest.id, ExecutionRequest.origin).where(
        ExecutionRequest.state == ExecutionRequestState.pending,
    ).order_by(ExecutionRequest.created_at, ExecutionRequest.id).limit(limit))
    return [(request_id, origin) for request_id, origin in rows]


def take_up(session: Session, request_id: str, run_id: str) -> ExecutionRequest | None:
    """Claim the request for run ``run_id``; None when it is gone or closed already.

    A request left ``launched`` by a run that died is taken up again by Dagster's retry of that run:
    ``execute_decision`` starts from what the ``executions`` row says (a recorded transaction's
    receipt is looked up before anything is signed again).
    """
    request = session.get(ExecutionRequest, request_id, with_for_update=True)
    if request is None or request.state not in OPEN:
        return None
    request.state, request.run_id = ExecutionRequestState.launched, run_id
    request.launched_at = request.launched_at or _now()
    return request


def mark_launched(session: Session, request_id: str, run_id: str) -> None:
    """The sensor found the request's run (made on an earlier tick): the request is no longer pending."""
    request = session.get(ExecutionRequest, request_id, with_for_update=True)
    if request is not None and request.state == ExecutionRequestState.pending:
        request.state, request.run_id, request.launched_at = ExecutionRequestState.launched, run_id, _now()


def close(session: Session, request_id: str, error: str | None = None) -> None:
    """The run is done with the request: ``finished`` (an outcome is in ``executions``) or ``failed``."""
    request = session.get(ExecutionRequest, request_id, with_for_update=True)
    if request is not None:
        request.state = ExecutionRequestState.failed if error else ExecutionRequestState.finished
        request.error = public_text(error, limit=2000) if error else None
        request.finished_at = _now()


def close_after_failed_run(session: Session, instance, request_id: str, run_id: str, error: str) -> bool:
    """Close the request as failed because its run ``run_id`` failed and nothing will run it again.

    Only a request still open (its op did not close it: the run's process died, or a step failed before
    the op could) and only for its newest run: a failed run whose retry goes on is not the last word.
    True when the request was closed here.
    """
    request = session.get(ExecutionRequest, request_id, with_for_update=True)
    if request is None or request.state not in OPEN:
        return False
    newest = dagster_runs.run_tagged(instance, REQUEST_TAG, request_id)
    if newest is not None and newest != run_id:
        return False
    request.state, request.finished_at = ExecutionRequestState.failed, _now()
    request.run_id = request.run_id or run_id
    request.error = public_text(f"run {run_id} failed: {error}", limit=2000)
    return True


def execution_view(session: Session, decision_id: str) -> ExecutionView | None:
    """What is known of the decision's execution; None when it was neither requested nor executed."""
    execution = session.get(Execution, decision_id)
    request = latest_request(session, decision_id)
    if execution is None and request is None:
        return None
    if execution is not None:
        status = execution.status.value
    else:
        status = "refused" if request.state == ExecutionRequestState.failed else "requested"
    return ExecutionView(decision_id, status, execution, request)
