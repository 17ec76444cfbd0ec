"""Following an orchestration request to its run, and the run's state from Dagster's run storage."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from zk_pipeline.db.models import OrchestrationRequest
from zk_pipeline.services import dagster_runs, run_requests

#: The status of a request no run has been started for yet.
REQUESTED = "REQUESTED"


@dataclass(frozen=True)
class Followed:
    run_id: str | None
    request_id: str | None
    status: str
    partition_key: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    failed_step: str | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.status in dagster_runs.FINISHED


def _of_run(state: dagster_runs.RunState, request_id: str | None) -> Followed:
    return Followed(state.run_id, request_id, state.status, state.partition_key, state.started_at, state.ended_at,
                    state.failed_step, list(state.errors))


def follow(session: Session, instance, some_id: str) -> Followed | None:
    """``some_id`` as a run id, else as a request id (its run's state once it has one); None: neither."""
    state = dagster_runs.run_state(instance, some_id)
    if state is not None:
        request_id = session.scalar(select(OrchestrationRequest.id).where(OrchestrationRequest.run_id == some_id))
        return _of_run(state, request_id)
    request = run_requests.get_request(session, some_id)
    if request is None:
        return None
    run_id = request.run_id or dagster_runs.run_tagged(instance, dagster_runs.REQUEST_TAG, request.id)
    state = dagster_runs.run_state(instance, run_id) if run_id else None
    if state is None:
        return Followed(None, request.id, REQUESTED, request.partition_key)
    return _of_run(state, request.id)
