"""The ``executions`` table: one row per decision, written before and after every step that matters.

Two processes never work on the same decision, nor sign with the same account, at once:
:func:`exclusive` holds PostgreSQL advisory locks (one on the decision, one on the account) on a
connection of its own for the whole execution. A crashed process's connection closes and its
locks go with it; its row stays, and tells the next run what was already signed and sent.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from zk_pipeline.db.models import AllocationDecision, Execution, ExecutionStatus
from zk_pipeline.db.session import get_engine


class ExecutionBusy(Exception):
    """Another process is executing this decision, or signing with this account, right now."""


def now() -> datetime:
    return datetime.now(timezone.utc)


def get(session: Session, decision_id: str) -> Execution | None:
    return session.get(Execution, decision_id, populate_existing=True)


def save(session: Session, decision_id: str, status: ExecutionStatus, **values: Any) -> None:
    """Create the decision's row, or update it (columns not named keep their value).

    Callers hold the decision's lock (:func:`exclusive`), so no other writer races this read-then-write.
    """
    row = session.get(Execution, decision_id, with_for_update=True, populate_existing=True)
    if row is None:
        row = Execution(decision_id=decision_id)
        session.add(row)
    for name, value in {"status": status, **values, "updated_at": now()}.items():
        setattr(row, name, value)
    session.flush()


def mark_executed(session: Session, decision_id: str, transaction_hash: str, block_number: int | None) -> None:
    """The decision carries its transaction from now on (and is refused by the next execution)."""
    decision = session.get(AllocationDecision, decision_id, with_for_update=True)
    decision.transaction_hash, decision.block_number = transaction_hash, block_number


@contextmanager
def exclusive(database_url: str | None, decision_id: str, account: int) -> Iterator[None]:
    """Advisory locks on the decision and the account for the block; :class:`ExecutionBusy` if taken."""
    keys = [f"zkp-execution:decision:{decision_id}", f"zkp-execution:account:{account:#x}"]
    with get_engine(database_url).connect() as conn:
        held = []
        try:
            for key in keys:
                got = conn.execute(text("SELECT pg_try_advisory_lock(hashtextextended(:k, 0))"), {"k": key}).scalar()
                conn.commit()
                if not got:
                    raise ExecutionBusy(f"another execution holds {key.split(':', 2)[1]} "
                                        f"{key.split(':', 2)[2]}; try again when it has finished")
                held.append(key)
            yield
        finally:
            for key in held:
                conn.execute(text("SELECT pg_advisory_unlock(hashtextextended(:k, 0))"), {"k": key})
            conn.commit()
