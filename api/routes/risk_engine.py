"""Recorded allocation decisions, newest first."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query
from sqlalchemy import func, select

from api.deps import SessionDep
from api.schemas import Decision, DecisionPage
from zk_pipeline.db.models import AllocationDecision

router = APIRouter(prefix="/risk-engine", tags=["risk-engine"])

MAX_OFFSET = 2**31 - 1  # keeps OFFSET inside PostgreSQL's integer range

TIME_DOC = "ISO-8601 datetime (URL-encode `+` as `%2B`, or use `Z`). A value without a UTC offset is taken as UTC."


def _utc(value: datetime | None) -> datetime | None:
    """Naive datetimes are read as UTC: every decision hour is a UTC hour."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=timezone.utc)


@router.get("/decisions", response_model=DecisionPage, summary="List decisions")
def list_decisions(
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500, description="Page size.")] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Number of decisions to skip.")] = 0,
    start: Annotated[datetime | None, Query(description=f"Inclusive lower bound on `timestamp`. {TIME_DOC}")] = None,
    end: Annotated[datetime | None, Query(description=f"Exclusive upper bound on `timestamp`. {TIME_DOC}")] = None,
) -> DecisionPage:
    """Decisions ordered by `timestamp` then `decision_id`, both descending, so pages are stable.

    Offset pagination: `total` counts every decision matching `start`/`end`.
    `start` must be strictly before `end` (422 otherwise).
    """
    start, end = _utc(start), _utc(end)
    if start is not None and end is not None and start >= end:
        raise HTTPException(422, detail=f"start ({start.isoformat()}) must be before end ({end.isoformat()})")
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
