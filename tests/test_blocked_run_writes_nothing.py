"""A run blocked by ``metrics_quality`` writes nothing, and filler never replaces stored real rows.

An earlier decision is on record first, so the windows the bad files touch
hold real rows that a careless write would overwrite.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest
from dagster import materialize
from sqlalchemy import create_engine, select, text

from tests.helpers import pipeline_resources
from zk_pipeline.db.models import AllocationDecision, ProtocolMetric
from zk_pipeline.db.session import session_scope
from zk_pipeline.db.urls import APP_SCHEMA
from zk_pipeline.definitions import all_assets
from zk_pipeline.sources.replay import ReplaySource

HOUR = datetime(2026, 11, 11, 11, tzinfo=timezone.utc)
KEY = HOUR.strftime("%Y-%m-%d-%H:%M")


def table_checksums(url: str) -> dict[str, tuple[int, str]]:
    """Row count and md5 of every app table's rows (sorted text form): equal iff the contents are."""
    engine = create_engine(url)
    with engine.connect() as c:
        tables = c.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = :s ORDER BY 1"),
                           {"s": APP_SCHEMA}).scalars().all()
        sums = {t: tuple(c.execute(text(
            f'SELECT count(*), coalesce(md5(string_agg(r::text, \'|\' ORDER BY r::text)), \'\') '
            f'FROM {APP_SCHEMA}."{t}" r')).one()) for t in tables}
    engine.dispose()
    return sums


def replay_file(tmp_path, name: str, edit) -> str:
    """The shipped replay data, changed by ``edit(frame, dataset_hour)``, as a CSV of the replay format."""
    src = ReplaySource()
    frame = src.frame().copy()
    frame = edit(frame, src.dataset_hour)
    frame["timestamp"] = frame["hour"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    path = tmp_path / name
    frame.drop(columns="hour").to_csv(path, index=False)
    return str(path)


def run(url, instance, key=KEY, **source):
    return materialize(all_assets, partition_key=key, resources=pipeline_resources(url, **source),
                       instance=instance, raise_on_error=False)


@pytest.fixture()
def decided(db_url, dagster_instance):
    """One hour decided on the shipped data: its 720-hour window of real rows is stored."""
    assert run(db_url, dagster_instance).success
    with session_scope(db_url) as s:
        decision = s.scalars(select(AllocationDecision)).one()
    return decision.decision_id


def test_a_run_that_fails_metrics_quality_leaves_every_table_as_it_was(db_url, dagster_instance, decided, tmp_path):
    def corrupt(frame, dataset_hour):
        # Six bad rows inside the stored window of the decided hour (and of the next one).
        for i, (col, value) in enumerate([("price", -1.0), ("tvl_usd", 0.0), ("volume_usd", -5.0),
                                          ("price", float("nan")), ("fees_usd", -1.0), ("tvl_usd", -3.0)]):
            at = dataset_hour(HOUR - timedelta(hours=3 + 7 * i))
            frame.loc[(frame["hour"] == at) & (frame["protocol"] == ("ekubo" if i % 2 else "jediswap")), col] = value
        return frame

    path = replay_file(tmp_path, "six_bad_rows.csv", corrupt)
    before = table_checksums(db_url)
    assert before["protocol_metrics"][0] == 2 * 720 and before["allocation_decisions"][0] == 1
    for key in (KEY, (HOUR + timedelta(hours=1)).strftime("%Y-%m-%d-%H:%M")):
        result = run(db_url, dagster_instance, key, replay_path=path)
        assert not result.success
        quality = {c.check_name: c for c in result.get_asset_check_evaluations()}["metrics_quality"]
        assert not quality.passed and quality.metadata["blocking_issues"].value == 6
        metrics_md = result.asset_materializations_for_node("protocol_metrics")[0].metadata
        assert metrics_md["rows_written"].value == 0
        assert table_checksums(db_url) == before, key


def test_rows_deleted_from_the_file_keep_the_stored_real_rows(db_url, dagster_instance, decided, tmp_path):
    gone = [("ekubo", HOUR - timedelta(hours=5)), ("jediswap", HOUR - timedelta(hours=200))]

    def delete(frame, dataset_hour):
        drop = pd.Series(False, index=frame.index)
        for protocol, hour in gone:
            drop |= (frame["hour"] == dataset_hour(hour)) & (frame["protocol"] == protocol)
        assert drop.sum() == 2
        return frame[~drop]

    with session_scope(db_url) as s:
        stored = {(m.protocol, m.hour): (m.volume_e6, m.repaired) for m in s.scalars(select(ProtocolMetric))}
    assert all(stored[g][0] > 0 and not stored[g][1] for g in gone)
    before = table_checksums(db_url)

    result = run(db_url, dagster_instance, replay_path=replay_file(tmp_path, "two_rows_deleted.csv", delete))
    assert result.success
    quality = {c.check_name: c for c in result.get_asset_check_evaluations()}["metrics_quality"]
    assert not quality.passed and quality.severity.value == "WARN"
    rows = [r for r in quality.metadata["rows"].value if r["action"] == "kept"]
    assert sorted((r["protocol"], r["hour"]) for r in rows) == sorted(
        (p, h.strftime("%Y-%m-%dT%H:%M:%SZ")) for p, h in gone)
    with session_scope(db_url) as s:
        after = {(m.protocol, m.hour): (m.volume_e6, m.repaired) for m in s.scalars(select(ProtocolMetric))}
        decisions = s.scalars(select(AllocationDecision)).all()
    assert after == stored  # no zero-volume filler over the real rows
    assert [d.decision_id for d in decisions] == [decided]
    assert table_checksums(db_url)["protocol_metrics"] == before["protocol_metrics"]


def test_a_gap_with_nothing_stored_is_still_filled(db_url, dagster_instance, tmp_path):
    """The other half of the rule: an hour never delivered before is repaired as documented."""
    missing = HOUR - timedelta(hours=4)

    def delete(frame, dataset_hour):
        return frame[~((frame["hour"] == dataset_hour(missing)) & (frame["protocol"] == "ekubo"))]

    result = run(db_url, dagster_instance, replay_path=replay_file(tmp_path, "one_gap.csv", delete))
    assert result.success
    with session_scope(db_url) as s:
        row = s.scalars(select(ProtocolMetric).where(ProtocolMetric.protocol == "ekubo",
                                                     ProtocolMetric.hour == missing)).one()
    assert row.repaired and row.volume_e6 == 0
