"""The first hour of the hourly partitions, chosen once per deployment.

Every process that loads the code location (webserver, daemon, run workers,
the API) must build the same partitions definition, so the start is never
computed from the clock at import: it is ``ZKP_PARTITIONS_START`` if set, else
a fixed historical hour. ``zkp run`` sets the variable for itself and its
children from ``pin_start``: a start written once in its data directory on
the first run, at the hours the catch-up sensor fills by itself. The UI then
opens on partitions that fill within minutes instead of thousands that never
will; backfills further back need an earlier ``ZKP_PARTITIONS_START``.

Kept free of Dagster imports: ``zkp run`` calls it before anything loads the
definitions.
"""

from __future__ import annotations

import os
import tempfile
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

PARTITION_FORMAT = "%Y-%m-%d-%H:%M"
#: Without ZKP_PARTITIONS_START (tests, ``dagster dev`` started by hand): backfillable from here.
DEFAULT_START = "2026-01-01-00:00"
#: A first run starts the partitions this many complete hours back: the catch-up sensor's look-back.
FIRST_RUN_HOURS = 6


def parse_start(value: str, source: str = "ZKP_PARTITIONS_START") -> str:
    """``YYYY-MM-DD`` or ``YYYY-MM-DD-HH:00`` (UTC) as a partition key; ValueError naming ``source`` otherwise."""
    text = value.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        text += "-00:00"
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}-\d{2}:00", text):
        raise ValueError(f"{source}={value[:40]!r} is not a UTC hour like 2026-12-01 or 2026-12-01-05:00")
    try:
        datetime.strptime(text, PARTITION_FORMAT)
    except ValueError:
        raise ValueError(f"{source}={value[:40]!r} is not a calendar date") from None
    return text


def configured_start(env: dict[str, str] | os._Environ = os.environ) -> str:
    value = env.get("ZKP_PARTITIONS_START")
    return parse_start(value) if value else DEFAULT_START


def first_run_start(now: datetime) -> str:
    """The oldest of the last ``FIRST_RUN_HOURS`` complete hours at ``now``."""
    last_complete = now.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    return (last_complete - timedelta(hours=FIRST_RUN_HOURS - 1)).strftime(PARTITION_FORMAT)


def pin_start(path: Path, now: datetime | None = None, env: dict[str, str] | os._Environ = os.environ) -> str:
    """``ZKP_PARTITIONS_START`` if set; else the start stored in ``path``, written by the first call.

    The file is created atomically (hard link of a finished temporary file), so processes that race
    on a first run all return the winner's value.
    """
    if env.get("ZKP_PARTITIONS_START"):
        return configured_start(env)
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # one per caller, threads too
        try:
            with os.fdopen(fd, "w") as out:
                out.write(first_run_start(now or datetime.now(timezone.utc)) + "\n")
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
    return parse_start(path.read_text(), source=str(path))
