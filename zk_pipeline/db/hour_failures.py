"""The hours a ranged run gave up on (``models.HourFailure``): read by the run's later assets."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from zk_pipeline.db.models import HourFailure


def of_run(session: Session, run_id: str) -> dict[datetime, tuple[str, str]]:
    """hour → (asset, reason) for every hour the run ``run_id`` has given up on so far."""
    return {f.hour: (f.asset, f.reason)
            for f in session.scalars(select(HourFailure).where(HourFailure.run_id == run_id))}


def record(session: Session, run_id: str, asset: str, failures: Mapping[datetime, str]) -> None:
    """Record hours ``asset`` could not compute; an hour already recorded keeps its first asset."""
    if not failures:
        return
    rows = [{"run_id": run_id, "hour": hour, "asset": asset, "reason": reason[:4000]}
            for hour, reason in failures.items()]
    session.execute(insert(HourFailure).values(rows).on_conflict_do_nothing(index_elements=["run_id", "hour"]))
