"""Reading recorded allocation decisions: pages ordered newest first, and one by id.

Pages are found by keyset (a cursor naming the last decision seen) so that the
thousandth page costs what the first does: PostgreSQL walks the composite index
on ``(timestamp, decision_id)`` from the cursor instead of reading and skipping
every earlier row, as an ``OFFSET`` must.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, select, tuple_
from sqlalchemy.orm import Session

from zk_pipeline.db.models import AllocationDecision

_CURSOR_VERSION = "d1"
_CHECK_BYTES = 6


class InvalidCursor(ValueError):
    """The cursor was not made by :func:`encode_cursor` (cut short, edited by hand, or another format)."""


@dataclass(frozen=True)
class Page:
    items: list[AllocationDecision]
    #: Decisions matching ``start``/``end`` in all; ``None`` when not counted.
    total: int | None
    #: The cursor of the page after this one; ``None`` on the last page.
    next_cursor: str | None


def encode_cursor(timestamp: datetime, decision_id: str) -> str:
    """base64url of ``d1|<timestamp>|<decision_id>`` plus a short digest, so that an edited or truncated
    cursor is refused instead of silently starting somewhere else (the digest is a checksum, not a secret:
    any position may be asked for, it just has to be asked for with a cursor this API made)."""
    payload = f"{_CURSOR_VERSION}|{timestamp.isoformat()}|{decision_id}".encode()
    check = hashlib.sha256(payload).digest()[:_CHECK_BYTES]
    return base64.urlsafe_b64encode(payload + check).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """``(timestamp, decision_id)`` of a cursor from :func:`encode_cursor`; :class:`InvalidCursor` otherwise."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (ValueError, TypeError):
        raise InvalidCursor("not base64url") from None
    payload, check = raw[:-_CHECK_BYTES], raw[-_CHECK_BYTES:]
    if len(raw) <= _CHECK_BYTES or hashlib.sha256(payload).digest()[:_CHECK_BYTES] != check:
        raise InvalidCursor("checksum mismatch: the cursor was altered or cut short")
    try:
        version, stamp, decision_id = payload.decode().split("|")
        timestamp = datetime.fromisoformat(stamp)
        canonical = str(uuid.UUID(decision_id))
    except ValueError:
        raise InvalidCursor("unreadable position") from None
    if version != _CURSOR_VERSION or timestamp.tzinfo is None or canonical != decision_id:
        raise InvalidCursor("unreadable position")
    return timestamp, decision_id


def _range(start: datetime | None, end: datetime | None) -> list:
    where = []
    if start is not None:
        where.append(AllocationDecision.timestamp >= start)
    if end is not None:
        where.append(AllocationDecision.timestamp < end)
    return where


def page_query(limit: int, offset: int = 0, start: datetime | None = None, end: datetime | None = None,
               after: tuple[datetime, str] | None = None) -> Select:
    """Up to ``limit`` decisions in ``[start, end)`` by ``timestamp`` then ``decision_id``, both descending
    (stable pages), strictly after the position ``after`` (a decoded cursor) if given, then skipping
    ``offset``. Its own function so that its plan can be checked."""
    where = _range(start, end)
    if after is not None:
        where.append(tuple_(AllocationDecision.timestamp, AllocationDecision.decision_id) < after)
    return (select(AllocationDecision).where(*where)
            .order_by(AllocationDecision.timestamp.desc(), AllocationDecision.decision_id.desc())
            .limit(limit).offset(offset))


def page(session: Session, limit: int, offset: int = 0, start: datetime | None = None,
         end: datetime | None = None, after: tuple[datetime, str] | None = None, count: bool = True) -> Page:
    """The page :func:`page_query` selects, with the cursor of the next one (one row more than ``limit`` is
    read to know whether it exists); ``total`` (a count over the whole filtered range, linear in its size)
    only when ``count``."""
    total = None
    if count:
        total = session.scalar(select(func.count()).select_from(AllocationDecision).where(*_range(start, end)))
    rows = list(session.scalars(page_query(limit + 1, offset, start, end, after)))
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, total, encode_cursor(rows[-1].timestamp, rows[-1].decision_id) if more else None)


def get(session: Session, decision_id: str) -> AllocationDecision | None:
    return session.get(AllocationDecision, decision_id)
