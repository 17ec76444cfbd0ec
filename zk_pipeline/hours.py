"""Hourly partition keys and "the latest complete hour", in one place.

One allocation decision is made per closed UTC hour; its partition key is the
hour's start as ``YYYY-MM-DD-HH:00``. Kept free of Dagster imports: the CLI
and the API use it before (or without) loading the definitions.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

PARTITION_FORMAT = "%Y-%m-%d-%H:%M"
PARTITION_KEY = re.compile(r"^\d{4}-\d{2}-\d{2}-\d{2}:00$")
HOUR = timedelta(hours=1)


class PartitionKeyError(ValueError):
    """Not an hourly partition key, before the first partition, or an hour that has not closed yet."""


def floor_hour(moment: datetime) -> datetime:
    """The start of the UTC hour ``moment`` falls in (naive means UTC)."""
    moment = moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)
    return moment.replace(minute=0, second=0, microsecond=0)


def key_of(hour: datetime) -> str:
    return floor_hour(hour).strftime(PARTITION_FORMAT)


def hour_of(key: str) -> datetime:
    """The UTC hour a well-formed key names; ``PartitionKeyError`` for anything else."""
    if not isinstance(key, str) or not PARTITION_KEY.match(key):
        raise PartitionKeyError(f"partition key {str(key)[:40]!r} is not an hour like '2026-11-20-10:00' (UTC)")
    try:
        return datetime.strptime(key, PARTITION_FORMAT).replace(tzinfo=timezone.utc)
    except ValueError as exc:
        raise PartitionKeyError(f"partition key {key!r}: {exc}") from None


def parse_start(value: str, source: str = "ZKP_PARTITIONS_START") -> str:
    """A first partition written ``YYYY-MM-DD`` or ``YYYY-MM-DD-HH:00`` (UTC) as a partition key;
    ``PartitionKeyError`` (a ``ValueError``) naming ``source`` otherwise."""
    text = value.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        text += "-00:00"
    if not PARTITION_KEY.match(text):
        raise PartitionKeyError(f"{source}={value[:40]!r} is not a UTC hour like 2026-12-01 or 2026-12-01-05:00")
    try:
        datetime.strptime(text, PARTITION_FORMAT)
    except ValueError:
        raise PartitionKeyError(f"{source}={value[:40]!r} is not a calendar date") from None
    return text


def latest_complete_hour(now: datetime | None = None) -> datetime:
    """The start of the last hour that has closed at ``now`` (UTC)."""
    return floor_hour(now or datetime.now(timezone.utc)) - HOUR


def latest_complete_key(now: datetime | None = None) -> str:
    return key_of(latest_complete_hour(now))


def recent_keys(hours: int, now: datetime | None = None, first: str | None = None) -> list[str]:
    """The last ``hours`` complete hours at ``now``, oldest first, none before ``first``."""
    last = latest_complete_hour(now)
    keys = [key_of(last - i * HOUR) for i in reversed(range(hours))]
    return [k for k in keys if first is None or k >= first]


def check_partition_key(key: str, first: str, now: datetime | None = None) -> str:
    """``key`` if it names a closed hour at or after the first partition ``first``."""
    hour_of(key)
    if key < first:
        raise PartitionKeyError(f"partition key {key!r} is before the first partition {first}")
    latest = latest_complete_key(now)
    if key > latest:
        raise PartitionKeyError(f"the hour {key} has not closed yet; the latest complete hour is {latest}")
    return key
