"""Reading recorded allocation decisions: pages ordered newest first, and one by id."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zk_pipeline.db.models import AllocationDecision


def page(session: Session, limit: int, offset: int, start: datetime | None = None,
         end: datetime | None = None) -> tuple[list[AllocationDecision], int]:
    """Decisions in ``[start, end)`` by ``timestamp`` then ``decision_id``, both descending (stable pages),
    and how many match in all."""
    where = []
    if start is not None:
        where.append(AllocationDecision.timestamp >= start)
    if end is not None:
        where.append(AllocationDecision.timestamp < end)
    total = session.scalar(select(func.count()).select_from(AllocationDecision).where(*where))
    rows = session.scalars(
        select(AllocationDecision).where(*where)
        .order_by(AllocationDecision.timestamp.desc(), AllocationDecision.decision_id.desc())
        .limit(limit).offset(offset)).all()
    return list(rows), total


def get(session: Session, decision_id: str) -> AllocationDecision | None:
    return session.get(AllocationDecision, decision_id)
