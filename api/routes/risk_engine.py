"""Recorded allocation decisions, newest first; and launching the workflow that records them."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Annotated

from fastapi import APIRouter, Body, HTTPException, Path, Query, Request, Response
from pydantic import AfterValidator, BeforeValidator
from sqlalchemy import func, select

from api.deps import SessionDep, SessionReleasingRoute
from api.schemas import Decision, DecisionPage, OrchestrateRequest, OrchestrationLaunch, OrchestrationStatus
from zk_pipeline.db.models import AllocationDecision

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


@router.get("/decisions", response_model=DecisionPage, summary="List decisions")
def list_decisions(
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500, description="Page size.")] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Number of decisions to skip.")] = 0,
    start: Annotated[UtcDateTime | None, Query(description=f"Inclusive lower bound on `timestamp`. {TIME_DOC}")] = None,
    end: Annotated[UtcDateTime | None, Query(description=f"Exclusive upper bound on `timestamp`. {TIME_DOC}")] = None,
) -> DecisionPage:
    """Decisions ordered by `timestamp` then `decision_id`, both descending, so pages are stable.

    Offset pagination: `total` counts every decision matching `start`/`end`. The range is
    half-open, `[start, end)`: with `start` at or after `end` it is empty (`total` 0).
    """
    where = []
    if start is not None:
        where.append(AllocationDecision.timestamp >= start)
    if end is not None:
        where.append(AllocationDecision.timestamp < end)
    total = session.scalar(select(func.count()).select_from(AllocationDecision).where(*where))
    rows = session.scalars(
        select(AllocationDecision)
        .where(*where)
        .order_by(AllocationDecision.timestamp.desc(), AllocationDecision.decision_id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return DecisionPage(items=[Decision.model_validate(r) for r in rows], total=total, limit=limit, offset=offset)


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
    row = session.get(AllocationDecision, str(decision_id))
    if row is None:
        raise HTTPException(404, detail=f"decision {decision_id} not found")
    return Decision.model_validate(row)


# --- Orchestration: run the whole workflow for one hour through Dagster -------------------------------


def _public(message: str, request: Request) -> str:
    """Without passwords or secret environment values (nor the app's own database password)."""
    from api.routes.proofs import public_text

    return public_text(message, request.app.state.database_url) or ""


@router.post(
    "/orchestrate-allocation",
    response_model=OrchestrationLaunch,
    status_code=202,
    summary="Run the allocation workflow for an hour",
    responses={
        422: {"description": "`partition_key` is malformed, before the first partition, or not a closed hour."},
        502: {"description": "The Dagster GraphQL API could not be reached or refused the run; the detail says why."},
        503: {"description": "Orchestration is not configured: bad DAGSTER_GRAPHQL_URL, no DATABASE_URL for "
                             "in-process runs, or an unusable DAGSTER_HOME."},
    },
)
def orchestrate_allocation(
    request: Request,
    response: Response,
    body: Annotated[OrchestrateRequest | None, Body(description="Optional; default: the latest complete hour.")] = None,
) -> OrchestrationLaunch:
    """Launches a Dagster run of `allocation_job` (metrics → features → scores → proposal → proof → fact →
    decision) for the latest complete UTC hour, or `partition_key`; poll `status_url`.

    With `DAGSTER_GRAPHQL_URL` set the run is submitted to that Dagster deployment (tag `dagster/partition`);
    otherwise this API process runs it in a background thread (`mode: in_process`) on `DagsterInstance.get()`,
    or on an ephemeral in-memory instance when `DAGSTER_HOME` is not set (`instance: ephemeral`, see `note`).
    Re-running an hour is safe: every write is an upsert and an identical statement reuses its verified proof.
    """
    from zk_pipeline import orchestration

    try:
        key = orchestration.check_partition_key(body.partition_key) if body and body.partition_key else None
        launch = orchestration.launch_allocation_run(key)
    except orchestration.PartitionKeyError as exc:
        raise HTTPException(422, detail=str(exc)) from None
    except ValueError as exc:  # an unusable DAGSTER_GRAPHQL_URL
        raise HTTPException(503, detail=_public(str(exc), request)) from None
    except orchestration.OrchestrationError as exc:
        code = 502 if isinstance(orchestration.get_launcher(), orchestration.GraphQLLauncher) else 503
        raise HTTPException(code, detail=_public(str(exc), request)) from None
    status_url = request.app.url_path_for("orchestration_status", run_id=launch.run_id)
    response.headers["Location"] = status_url
    return OrchestrationLaunch(run_id=launch.run_id, partition_key=launch.partition_key, mode=launch.mode,
                               instance=launch.instance, already_running=launch.already_running,
                               status_url=status_url, note=launch.note)


@router.get(
    "/orchestration/{run_id}",
    response_model=OrchestrationStatus,
    summary="Status of an orchestration run",
    responses={
        404: {"description": "The Dagster instance (or GraphQL deployment) knows no such run."},
        502: {"description": "The Dagster GraphQL API could not be reached."},
    },
)
def orchestration_status(
    request: Request,
    run_id: Annotated[uuid.UUID, Path(description="The Dagster run id returned by orchestrate-allocation.")],
) -> OrchestrationStatus:
    """The run's Dagster status; `errors` says which steps failed and why once it has failed."""
    from zk_pipeline import orchestration

    try:
        state = orchestration.run_status(str(run_id))
    except orchestration.RunNotFound:
        raise HTTPException(404, detail=f"run {run_id} not found") from None
    except ValueError as exc:
        raise HTTPException(503, detail=_public(str(exc), request)) from None
    except orchestration.OrchestrationError as exc:
        code = 502 if isinstance(orchestration.get_launcher(), orchestration.GraphQLLauncher) else 503
        raise HTTPException(code, detail=_public(str(exc), request)) from None
    return OrchestrationStatus(run_id=state.run_id, mode=state.mode, status=state.status, finished=state.finished,
                               partition_key=state.partition_key, started_at=state.started_at,
                               ended_at=state.ended_at, errors=[_public(e, request) for e in state.errors])
