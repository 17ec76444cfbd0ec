"""Orchestration requests: the API records "run this hour"; ``run_requests_sensor`` makes it one run.

One run per hour: an hour whose ``allocation_job`` run is queued or running
returns that run; an hour with a pending (not yet launched) request returns that
request. The pending check is a partial unique index, so two API processes
asking at once get the same request. Nothing here starts a run.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from zk_pipeline import hours
from zk_pipeline.db.models import OrchestrationRequest, RunRequestState
from zk_pipeline.services import dagster_runs
from zk_pipeline.services.errors import InvalidRequest


@dataclass(frozen=True)
class Requested:
    partition_key: str
    request_id: str | None  # None: the hour's run was started by something else (schedule, backfill, UI)
    run_id: str | None  # None until Dagster has taken the request up
    already_running: bool


def pending_request(session: Session, partition_key: str) -> OrchestrationRequest | None:
    return session.scalar(select(OrchestrationRequest).where(
        OrchestrationRequest.partition_key == partition_key, OrchestrationRequest.state == RunRequestState.pending))


def request_run(session: Session, instance, partition_key: str) -> Requested:
    """Record a request for ``partition_key`` unless the hour is already asked for or running.

    ``instance``: the Dagster instance to look for a queued/running run in (None: only the
    requests table is consulted). Commits nothing itself.
    """
    pending = pending_request(session, partition_key)
    if pending is not None:
        return Requested(partition_key, pending.id, None, already_running=True)
    if instance is not None:
        run_id = dagster_runs.active_run(instance, partition_key)
        if run_id is not None:
            return Requested(partition_key, None, run_id, already_running=True)
    request_id = str(uuid.uuid4())
    inserted = session.scalar(
        insert(OrchestrationRequest).values(id=request_id, partition_key=partition_key,
                                            state=RunRequestState.pending)
        .on_conflict_do_nothing(index_elements=["partition_key"],
                                index_where=OrchestrationRequest.state == RunRequestState.pending)
        .returning(OrchestrationRequest.id))
    if inserted is None:  # another API process recorded this hour a moment ago
        return Requested(partition_key, pending_request(session, partition_key).id, None, already_running=True)
    return Requested(partition_key, request_id, None, already_running=False)


def checked_key(partition_key: str | None, first: str) -> str:
    """A closed hour at or after the first partition ``first`` (default: the latest); ``InvalidRequest`` else."""
    try:
        return hours.check_partition_key(partition_key, first) if partition_key else hours.latest_complete_key()
    except hours.PartitionKeyError as exc:
        raise InvalidRequest(str(exc)) from None


def get_request(session: Session, request_id: str) -> OrchestrationRequest | None:
    return session.get(OrchestrationRequest, request_id)


def pending_requests(session: Session, limit: int = 100) -> list[OrchestrationRequest]:
    return list(session.scalars(select(OrchestrationRequest).where(
        OrchestrationRequest.state == RunRequestState.pending,
    ).order_by(OrchestrationRequest.created_at, OrchestrationRequest.id).limit(limit)))


def mark_launched(session: Session, request_id: str, run_id: str) -> None:
    request = session.get(OrchestrationRequest, request_id, with_for_update=True)
    if request is not None and request.state == RunRequestState.pending:
        request.state, request.run_id = RunRequestState.launched, run_id
        request.launched_at = datetime.now(timezone.utc)
