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
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path

from zk_pipeline.hours import HOUR, key_of, latest_complete_hour, parse_start
from zk_pipeline.settings import DEFAULT_PARTITIONS_START as DEFAULT_START
from zk_pipeline.settings import get_settings, load_settings

#: A first run starts the partitions this many complete hours back: the catch-up sensor's look-back.
FIRST_RUN_HOURS = 6


def _setting(env: Mapping[str, str] | None) -> str | None:
    """``ZKP_PARTITIONS_START`` as a partition key (of ``env``, default the process's settings), if set."""
    return (get_settings() if env is None else load_settings(env)).partitions.start


def configured_start(env: Mapping[str, str] | None = None) -> str:
    return _setting(env) or DEFAULT_START


def first_run_start(now: datetime) -> str:
    """The oldest of the last ``FIRST_RUN_HOURS`` complete hours at ``now``."""
    return key_of(latest_complete_hour(now) - (FIRST_RUN_HOURS - 1) * HOUR)


def pin_start(path: Path, now: datetime | None = None, env: Mapping[str, str] | None = None) -> str:
    """``ZKP_PARTITIONS_START`` if set; else the start stored in ``path``, written by the first call.

    The file is created atomically (hard link of a finished temporary file), so processes that race
    on a first run all return the winner's value.
    """
    setting = _setting(env)
    if setting:
        return setting
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
