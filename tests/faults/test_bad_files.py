"""Corrupted and truncated replay files: the run is refused with the reason, nothing is written, and the
same hour on the good file afterwards gives the decision id it always had; the next hour is not blocked."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from dagster import materialize
from sqlalchemy import select

from tests.helpers import pipeline_resources
from tests.test_blocked_run_writes_nothing import table_checksums
from zk_pipeline.db import repository
from zk_pipeline.db.models import AllocationDecision
from zk_pipeline.db.session import session_scope
from zk_pipeline.definitions import all_assets
from zk_pipeline.risk.registry import get_version
from zk_pipeline.sources.replay import ReplaySource

HOUR = datetime(2026, 11, 12, 9, tzinfo=timezone.utc)


def key(h: datetime) -> str:
    return h.strftime("%Y-%m-%d-%H:%M")


def truncated(data: bytes) -> bytes:
    return data[: int(len(data) * 0.6)]  # cut in the middle of a line, as a copy that ran out of disk


def corrupted(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes(range(256)) * 2 + data[middle + 512:]  # 512 bytes overwritten with garbage


@pytest.mark.parametrize("damage", [truncated, corrupted])
def test_a_damaged_replay_file_is_refused_and_the_good_one_gives_the_same_decision(db_url, dagster_instance,
                                                                                 tmp_path, damage):
    run = lambda h, **src: materialize(all_assets, partition_key=key(h), instance=dagster_instance,  # noqa: E731
                                       raise_on_error=False, resources=pipeline_resources(db_url, retries=0, **src))
    assert run(HOUR - timedelta(hours=1)).success  # an earlier decision on record
    bad = tmp_path / "damaged.csv"
    bad.write_bytes(damage(ReplaySource().path.read_bytes()))
    before = table_checksums(db_url)

    result = run(HOUR, replay_path=str(bad))
    assert not result.success
    failures = [e for e in result.all_events if e.is_step_failure]
    checks = [c for c in result.get_asset_check_evaluations() if not c.passed]
    reasons = [f.step_failure_data.error.message if f.step_failure_data.error else "" for f in failures]
    print(damage.__name__, reasons[:1], [c.metadata["bad_rows"].value.splitlines()[2:4] for c in checks])
    assert checks or any("replay" in r for r in reasons), reasons
    assert table_checksums(db_url) == before

    assert run(HOUR).success and run(HOUR + timedelta(hours=1)).success
    with session_scope(db_url) as s:
        ids = {d.timestamp: d.decision_id for d in s.scalars(select(AllocationDecision))}
    assert ids[HOUR] == repository.decision_id_for(HOUR, get_version().hash_hex) and len(ids) == 3
