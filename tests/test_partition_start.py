"""Where the hourly partitions start: a setting, or pinned once at a deployment's first run."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from datetime import datetime, timezone
from pathlib import Path

import pytest

from zk_pipeline.assets.partition_start import (
    DEFAULT_START, FIRST_RUN_HOURS, configured_start, first_run_start, parse_start, pin_start,
)

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 12, 6, 9, 4, tzinfo=timezone.utc)


def test_parse_accepts_a_day_or_an_hour_and_refuses_the_rest():
    assert parse_start("2026-12-01") == "2026-12-01-00:00"
    assert parse_start(" 2026-12-01-05:00\n") == "2026-12-01-05:00"
    for bad, why in (("2026-12-01-05:30", "not a UTC hour"), ("yesterday", "not a UTC hour"),
                     ("2026-13-01", "not a calendar date"), ("2026-02-30-01:00", "not a calendar date"),
                     ("2026-12-01T05:00", "not a UTC hour"), ("", "not a UTC hour")):
        with pytest.raises(ValueError, match=why) as exc:
            parse_start(bad)
        assert "ZKP_PARTITIONS_START" in str(exc.value)


def test_without_a_setting_the_start_is_the_historical_default():
    assert configured_start({}) == DEFAULT_START
    assert configured_start({"ZKP_PARTITIONS_START": ""}) == DEFAULT_START
    assert configured_start({"ZKP_PARTITIONS_START": "2026-11-30"}) == "2026-11-30-00:00"


def test_first_run_covers_exactly_the_hours_the_catch_up_sensor_fills():
    from zk_pipeline.automation import CATCH_UP_HOURS

    assert FIRST_RUN_HOURS == CATCH_UP_HOURS
    assert first_run_start(NOW) == "2026-12-06-03:00"  # 03:00 .. 08:00: six complete hours at 09:04


def test_pin_writes_once_and_every_later_call_reads_it(tmp_path):
    path = tmp_path / "data" / "partitions_start"
    assert pin_start(path, NOW, env={}) == "2026-12-06-03:00"
    assert path.read_text() == "2026-12-06-03:00\n"
    later = datetime(2026, 12, 9, 17, 0, tzinfo=timezone.utc)
    assert pin_start(path, later, env={}) == "2026-12-06-03:00"
    assert not [p for p in path.parent.iterdir() if p.name != "partitions_start"]  # no temporary file left


def test_a_setting_wins_and_pins_nothing(tmp_path):
    path = tmp_path / "partitions_start"
    assert pin_start(path, NOW, env={"ZKP_PARTITIONS_START": "2026-11-20"}) == "2026-11-20-00:00"
    assert not path.exists()
    with pytest.raises(ValueError, match="ZKP_PARTITIONS_START"):
        pin_start(path, NOW, env={"ZKP_PARTITIONS_START": "2026-11-20 10:00"})


def test_racing_first_runs_agree(tmp_path):
    """Processes started at different moments on one data directory all get the first writer's start."""
    path = tmp_path / "partitions_start"
    results: list[str] = []
    barrier = threading.Barrier(8)

    def run(hour: int) -> None:
        barrier.wait()
        results.append(pin_start(path, NOW.replace(hour=hour), env={}))

    threads = [threading.Thread(target=run, args=(9 + i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8 and len(set(results)) == 1 and results[0] == path.read_text().strip()


def test_a_damaged_pin_file_is_a_clear_error(tmp_path):
    path = tmp_path / "partitions_start"
    path.write_text("garbage")
    with pytest.raises(ValueError, match="partitions_start='garbage' is not a UTC hour"):
        pin_start(path, NOW, env={})


def _definitions(env: dict[str, str]) -> subprocess.CompletedProcess:
    script = textwrap.dedent("""
        from datetime import datetime, timezone
        from zk_pipeline.assets.partitions import hourly
        from zk_pipeline.automation import CATCH_UP_HOURS
        from zk_pipeline.hours import recent_keys
        from zk_pipeline.definitions import defs
        keys = hourly.get_partition_keys(current_time=datetime(2026, 12, 6, 9, 4, tzinfo=timezone.utc))
        job = defs.resolve_job_def("allocation_job")
        print(job.partitions_def.get_first_partition_key(), len(keys), keys[-1])
        print(recent_keys(CATCH_UP_HOURS, datetime(2026, 12, 6, 9, 4, tzinfo=timezone.utc)) == keys)
    """)
    import os

    clean = {k: v for k, v in os.environ.items() if k != "ZKP_PARTITIONS_START"}
    return subprocess.run([sys.executable, "-c", script], cwd=ROOT, env={**clean, **env},
                          capture_output=True, text=True, timeout=120)


def test_the_definitions_start_where_the_setting_says_and_catch_up_fills_them_all():
    out = _definitions({"ZKP_PARTITIONS_START": first_run_start(NOW)})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["2026-12-06-03:00", "6", "2026-12-06-08:00", "True"]


def test_a_bad_setting_stops_the_code_location_with_the_reason():
    out = _definitions({"ZKP_PARTITIONS_START": "2026-12-06-03:30"})
    assert out.returncode != 0
    assert "ZKP_PARTITIONS_START: '2026-12-06-03:30' is not a UTC hour" in out.stderr
