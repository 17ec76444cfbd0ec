"""Backfills run many hours per run (``BackfillPolicy``): every asset works on the whole range at once.

What must hold: a range records exactly what single-hour runs record; one bad hour inside a
range is named and left for a re-run while the others are recorded; Dagster shows the good
hours materialized and the bad one failed; the schedule's single-hour runs are unchanged.
"""

from __future__ import annotations

import sys
import textwrap
from datetime import datetime, timezone

import pytest
from dagster import AssetKey, DagsterEventType, materialize
from sqlalchemy import select

from tests.helpers import pipeline_resources
from tests.test_blocked_run_writes_nothing import replay_file
from zk_pipeline.assets.partitions import hourly
from zk_pipeline.db.models import AllocationDecision, AllocationProposal, HourFailure, ProofJob
from zk_pipeline.db.session import session_scope
from zk_pipeline.definitions import all_assets
from zk_pipeline.hours import key_of
from zk_pipeline.resources import ProverResource
from zk_pipeline.risk.registry import get_version
from zk_pipeline.risk.series import build_statement
from zk_pipeline.sources.base import Window
from zk_pipeline.sources.quality import validate
from zk_pipeline.sources.replay import ReplaySource

def three_hours(first_hour: int) -> list[datetime]:
    """Each test its own hours: Dagster's event log (unlike the app's tables) outlives a test."""
    return [datetime(2026, 11, 11, first_hour + i, tzinfo=timezone.utc) for i in range(3)]


def run_range(url, instance, hours, prover: ProverResource | None = None, **source):
    tags = {"dagster/asset_partition_range_start": key_of(hours[0]),
            "dagster/asset_partition_range_end": key_of(hours[-1])}
    return materialize(all_assets, resources=pipeline_resources(url, prover=prover, **source), instance=instance,
                       tags=tags, raise_on_error=False)


def decisions(url) -> dict[datetime, AllocationDecision]:
    with session_scope(url) as s:
        return {d.timestamp: d for d in s.scalars(select(AllocationDecision))}


def partition_status(instance, asset: str, hours) -> tuple[set[str], set[str]]:
    """(materialized, failed) keys among ``hours`` of ``asset``, as the Dagster UI shows them."""
    from dagster._core.storage.partition_status_cache import get_and_update_asset_status_cache_value

    keys = {key_of(h) for h in hours}
    value = get_and_update_asset_status_cache_value(instance, AssetKey(asset), hourly)
    failed = set(value.deserialize_failed_partition_subsets(hourly).get_partition_keys())
    return set(instance.get_materialized_partitions(AssetKey(asset))) & keys, failed & keys


def test_a_range_records_what_single_hour_runs_would(db_url, dagster_instance):
    HOURS = three_hours(2)
    result = run_range(db_url, dagster_instance, HOURS)
    assert result.success
    # One run, seven steps, each over the three hours.
    assert {e.step_key for e in result.all_events if e.event_type == DagsterEventType.STEP_SUCCESS} == {
        a.key.path[-1] for a in all_assets}
    recorded = decisions(db_url)
    assert sorted(recorded) == HOURS
    # Each hour's statement is the one a single hour builds from the same data on its own.
    model, source = get_version(), ReplaySource()
    with session_scope(db_url) as s:
        proposals = {p.hour: p for p in s.scalars(select(AllocationProposal))}
        jobs = {j.statement_hash: j for j in s.scalars(select(ProofJob))}
    for hour in HOURS:
        window = Window(hour, model.params.volatility_window_hours)
        alone = build_statement(validate(source.fetch(window), window).clean, hour, model).with_outputs()
        assert proposals[hour].statement_hash == alone.statement_hash()
        assert (recorded[hour].jediswap_pct, recorded[hour].ekubo_pct) == (
            alone.outputs["allocation"]["jediswap_bps"], alone.outputs["allocation"]["ekubo_bps"])
        job = jobs[proposals[hour].statement_hash]
        assert job.status.value == "verified" and recorded[hour].proof_job_id == job.id
        assert job.attempts == 1  # proved by the batch, first time
    materialized, failed = partition_status(dagster_instance, "allocation_decision", HOURS)
    assert materialized == {key_of(h) for h in HOURS} and not failed
    # A single-hour run of one of them (the schedule's kind) reuses everything and changes nothing.
    again = materialize(all_assets, partition_key=key_of(HOURS[1]), resources=pipeline_resources(db_url),
                        instance=dagster_instance)
    assert again.success
    assert {h: d.decision_id for h, d in decisions(db_url).items()} == {h: d.decision_id for h, d in recorded.items()}


def test_one_bad_hour_is_named_and_the_others_are_recorded(db_url, dagster_instance, tmp_path):
    HOURS = three_hours(8)
    bad = HOURS[-1]

    def corrupt(frame, dataset_hour):
        frame.loc[(frame["hour"] == dataset_hour(bad)) & (frame["protocol"] == "ekubo"), "price"] = -1.0
        return frame

    path = replay_file(tmp_path, "bad_last_hour.csv", corrupt)
    result = run_range(db_url, dagster_instance, HOURS, replay_path=path)
    assert not result.success
    # The good hours went all the way; the bad one is named with the asset that gave it up.
    assert sorted(decisions(db_url)) == HOURS[:-1]
    [failure] = [e for e in result.all_events if e.event_type == DagsterEventType.STEP_FAILURE]
    assert failure.step_key == "allocation_decision"
    text = failure.step_failure_data.user_failure_data.description
    assert key_of(bad) in text and "protocol_metrics" in text and "metrics_quality" in text
    for good in HOURS[:-1]:
        assert key_of(good) not in text
    with session_scope(db_url) as s:
        [ledger] = s.scalars(select(HourFailure)).all()
    assert (ledger.hour, ledger.asset, ledger.run_id) == (bad, "protocol_metrics", result.run_id)
    # The UI: the good hours materialized, the bad one failed (not "materialized").
    materialized, failed = partition_status(dagster_instance, "allocation_decision", HOURS)
    assert materialized == {key_of(h) for h in HOURS[:-1]} and failed == {key_of(bad)}
    # Left for a re-run: with the data repaired, the hour is decided and nothing else changes.
    before = {h: d.decision_id for h, d in decisions(db_url).items()}
    rerun = materialize(all_assets, partition_key=key_of(bad), resources=pipeline_resources(db_url),
                        instance=dagster_instance)
    assert rerun.success
    after = {h: d.decision_id for h, d in decisions(db_url).items()}
    assert sorted(after) == HOURS and {h: after[h] for h in before} == before


MIDDLE = three_hours(14)


@pytest.fixture()
def prover_failing_one_hour(tmp_path):
    """A ``command`` prover that proves like ``zkp prove`` except for the middle hour, where it fails."""
    script = tmp_path / "prove_but_one.py"
    script.write_text(textwrap.dedent(f"""
        import json, subprocess, sys
        statement, out = sys.argv[1], sys.argv[2]
        if json.load(open(statement))["hour"].startswith("{MIDDLE[1]:%Y-%m-%dT%H}"):
            sys.exit("this hour's prover is broken")
        sys.exit(subprocess.call([sys.executable, "-m", "zk_pipeline.cli", "prove", "--input", statement,
                                  "--out", out, "--json"]))
    """))
    return ProverResource(backends=["command"], command=f"{sys.executable} {script} {{statement}} {{out}}",
                          max_attempts=1, backoff_s=0.1, parallelism=2)


def test_a_failed_proof_inside_a_range_costs_only_its_hour(db_url, dagster_instance, prover_failing_one_hour):
    HOURS = MIDDLE
    result = run_range(db_url, dagster_instance, HOURS, prover=prover_failing_one_hour)
    assert not result.success
    assert sorted(decisions(db_url)) == [HOURS[0], HOURS[2]]
    [failure] = [e for e in result.all_events if e.event_type == DagsterEventType.STEP_FAILURE]
    text = failure.step_failure_data.user_failure_data.description
    assert key_of(HOURS[1]) in text and "allocation_proof" in text and "broken" in text
    with session_scope(db_url) as s:
        failed_job = s.scalars(select(ProofJob).where(ProofJob.hour == HOURS[1])).one()
        ledger = s.scalars(select(HourFailure)).one()
    assert failed_job.status.value == "failed" and ledger.asset == "allocation_proof"
    materialized, failed = partition_status(dagster_instance, "allocation_decision", HOURS)
    assert materialized == {key_of(HOURS[0]), key_of(HOURS[2])} and failed == {key_of(HOURS[1])}
