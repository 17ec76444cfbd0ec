"""Recorded allocation decisions, newest first; and launching the workflow that records them."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Annotated

from fastapi import APIRouter, Body, HTTPException, Path, Query, Request, Response
from pydantic import AfterValidator, BeforeValidator

from api.deps import (
    SessionDep, SessionReleasingRoute, SettingsDep, dagster_instance, public_text, resolve_database_url,
)
from api.schemas import Decision, DecisionPage, OrchestrateRequest, OrchestrationLaunch, OrchestrationStatus
from zk_pipeline.db.session import session_scope
from zk_pipeline.services import decisions

router = APIRouter(prefix="/risk-engine", tags=["risk-engine"], route_class=SessionReleasingRoute)

MAX_OFFSET = 2**31 - 1  # keeps OFFSET inside PostgreSQL's integer range

TIME_DOC = ("ISO-8601 date-time (URL-encode `+` as `%2B`, or use `Z`). A value without a UTC offset is "
            "taken as UTC; numbers (Unix times) are refused.")


def _iso_datetime(value):
    """Pydantic would read a bare number as a Unix time; the published schema says date-time."""
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return value
        raise ValueError("expected an ISO-8601 date-time, not a number")
    return value


def _utc(value: datetime) -> datetime:
    """Every decision hour is a UTC hour: naive means UTC, and any offset Python accepts (PostgreSQL
    takes only ±15:59) is converted before the query."""
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


UtcDateTime = Annotated[datetime, BeforeValidator(_iso_datetime), AfterValidator(_utc)]


def _cursor(value: str | None) -> tuple[datetime, str] | None:
    """The position a cursor names; a cursor this API did not make is refused with the reason."""
    return None if value is None else decisions.decode_cursor(value)


@router.get("/decisions", response_model=DecisionPage, summary="List decisions")
def list_decisions(
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500, description="Page size.")] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description=(
        "Number of decisions to skip (after `cursor`, if given). Kept for compatibility: PostgreSQL reads and "
        "discards every skipped row, so deep offsets get slower as history grows; follow `next_cursor` "
        "instead."))] = 0,
    start: Annotated[UtcDateTime | None, Query(description=f"Inclusive lower bound on `timestamp`. {TIME_DOC}")] = None,
    end: Annotated[UtcDateTime | None, Query(description=f"Exclusive upper bound on `timestamp`. {TIME_DOC}")] = None,
    cursor: Annotated[str | None, Query(max_length=200, pattern=r"^[A-Za-z0-9_-]+$", description=(
        "`next_cursor` of the previous page: this page starts right after the decision it names. "
        "Opaque; one this API did not make is refused (422). Combine it with the same `start`/`end`."
    )), AfterValidator(_cursor)] = None,
    include_total: Annotated[bool | None, Query(description=(
        "Whether to count `total`. Default: counted on a page without `cursor`, not on the pages a cursor "
        "leads to (the count is over the whole filtered range, so its cost grows with history)."))] = None,
) -> DecisionPage:
    """Decisions ordered by `timestamp` then `decision_id`, both descending, so pages are stable.

    Walk the list with `next_cursor` (keyset pagination, null on the last page): each page is read from the
    index on `(timestamp, decision_id)` starting at the cursor, so page 1,000 costs what page 1 costs.
    `offset` still works, but PostgreSQL reads every skipped row: fine near the top, slow deep down.

    `total` counts every decision matching `start`/`end` (not the remaining ones). It is counted by default
    on a page without `cursor` (as before cursors existed) and left null on cursor pages, whose client has it
    from the first page; `include_total` forces either way. The range is half-open, `[start, end)`: with
    `start` at or after `end` it is empty (`total` 0).
    """
    # `cursor` arrives decoded by `_cursor`: the position (timestamp, decision_id) it names.
    count = include_total if include_total is not None else cursor is None
    found = decisions.page(session, limit, offset, start, end, after=cursor, count=count)
    return DecisionPage(items=[Decision.model_validate(r) for r in found.items], total=found.total, limit=limit,
                        offset=offset, next_cursor=found.next_cursor)


@router.get(
    "/decision/{decision_id}",
    response_model=Decision,
    summary="Get one decision",
    responses={404: {"description": "No decision with this id."}},
)
def get_decision(
    session: SessionDep,
    decision_id: Annotated[uuid.UUID, Path(description="The decision's UUID (any case).")],
) -> Decision:
    # Stored ids are str(uuid): lowercase, hyphenated, so normalising the input makes lookup case-insensitive.
    row = decisions.get(session, str(decision_id))
    if row is None:
        raise HTTPException(404, detail=f"decision {decision_id} not found")
    return Decision.model_validate(row)


# --- Orchestration: ask Dagster to run the whole workflow for one hour -------------------------------


def _launch_response(request: Request, response: Response, requested) -> OrchestrationLaunch:
    follow = requested.run_id or requested.request_id
    status_url = request.app.url_path_for("orchestration_status", run_id=follow)
    response.status_code = 200 if requested.already_running else 202
    response.headers["Location"] = status_url
    return OrchestrationLaunch(
        run_id=requested.run_id, request_id=requested.request_id, partition_key=requested.partition_key,
        mode="dagster", instance="remote", already_running=requested.already_running, status_url=status_url,
        note=None if requested.run_id else "recorded; Dagster's run_requests_sensor starts its run (within seconds "
                                           "while the Dagster daemon runs)")


@router.post(
    "/orchestrate-allocation",
    response_model=OrchestrationLaunch,
    status_code=202,
    summary="Run the allocation workflow for an hour",
    responses={
        200: {"model": OrchestrationLaunch,
              "description": "The hour is already requested or running: that request or run is returned "
                             "(`already_running: true`)."},
        422: {"description": "`partition_key` is malformed, before the first partition, or not a closed hour."},
        503: {"description": "The database, or the Dagster instance in DAGSTER_HOME, cannot be used."},
    },
)
def orchestrate_allocation(
    request: Request,
    response: Response,
    settings: SettingsDep,
    body: Annotated[OrchestrateRequest | None, Body(description="Optional; default: the latest complete hour.")] = None,
) -> OrchestrationLaunch:
    """Records a request to run `allocation_job` (metrics → features → scores → proposal → proof → fact →
    decision) for the latest complete UTC hour, or `partition_key`; Dagster starts the run. Poll `status_url`.

    One run per hour: an hour that already has a queued or running run, or a request not yet taken up, returns
    it with **200** and `already_running: true`, from any API process. Otherwise **202** with `request_id`
    (`run_id` is null until Dagster's `run_requests_sensor` has started the run; `status_url` follows either).
    Re-running a finished hour is safe: every write is an upsert and an identical statement reuses its proof.
    """
    from zk_pipeline.services import run_requests

    key = run_requests.checked_key(body.partition_key if body else None, settings.partitions.first)
    instance = _instance_or_503(settings)
    with session_scope(resolve_database_url(request)) as s:
        requested = run_requests.request_run(s, instance, key)
    return _launch_response(request, response, requested)


def _instance_or_503(settings):
    from zk_pipeline.services import dagster_runs

    try:
        return dagster_instance(settings)
    except dagster_runs.DagsterUnavailable as exc:
        raise HTTPException(503, detail=public_text(str(exc))) from None


@router.get(
    "/orchestration/{run_id}",
    response_model=OrchestrationStatus,
    summary="Status of an orchestration request or run",
    responses={
        404: {"description": "No such request, and Dagster's run storage knows no such run."},
        503: {"description": "DAGSTER_HOME is not set or unusable, so runs cannot be read."},
    },
)
def orchestration_status(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    run_id: Annotated[uuid.UUID, Path(description="A run id, or the request id orchestrate-allocation returned.")],
) -> OrchestrationStatus:
    """From Dagster's run storage: partition, status, start and end times and, for a failed run, the failing step
    and its error. A request Dagster has not taken up yet reports `status: REQUESTED`."""
    from zk_pipeline.services import run_status

    state = run_status.follow(session, _instance_or_503(settings), str(run_id))
    if state is None:
        raise HTTPException(404, detail=f"no orchestration request or run {run_id}")
    url = resolve_database_url(request)
    return OrchestrationStatus(
        run_id=state.run_id, request_id=state.request_id, mode="dagster", status=state.status,
        finished=state.finished, partition_key=state.partition_key, started_at=state.started_at,
        ended_at=state.ended_at, failed_step=state.failed_step, errors=[public_text(e, url) for e in state.errors])
