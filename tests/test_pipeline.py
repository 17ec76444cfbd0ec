"""The whole asset graph against a real PostgreSQL and a real Dagster instance."""

from __future__ import annotations

from datetime import datetime, timezone

from dagster import AssetKey, Definitions, materialize
from sqlalchemy import select

from tests.helpers import pipeline_resources
from zk_pipeline.db import repository
from zk_pipeline.db.models import (
    AllocationDecision,
    AllocationProposal,
    ProofAttempt,
    ProofJob,
    ProtocolMetric,
    RiskFeature,
    RiskScore,
)
from zk_pipeline.db.session import session_scope
from zk_pipeline.definitions import all_assets, defs
from zk_pipeline.risk.registry import get_version

PARTITIONS = ["2026-11-20-10:00", "2026-11-20-11:00"]


def run_partition(url, instance, partition, **source):
    return materialize(all_assets, partition_key=partition, resources=pipeline_resources(url, **source),
                       instance=instance, raise_on_error=False)


def test_definitions_load():
    Definitions.validate_loadable(defs)
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert keys == {"protocol_metrics", "risk_features", "risk_scores", "allocation_proposal", "allocation_proof",
                    "verified_fact", "allocation_decision"}
    graph = defs.resolve_asset_graph()
    assert graph.get(AssetKey("allocation_decision")).parent_keys == {AssetKey("verified_fact")}
    assert graph.get(AssetKey("verified_fact")).parent_keys == {AssetKey("allocation_proof")}
    assert graph.get(AssetKey("allocation_proof")).parent_keys == {AssetKey("allocation_proposal")}
    assert defs.resolve_schedule_def("allocation_job_schedule") is not None
    assert {s.name for s in defs.sensors} == {"catch_up_automation", "run_requests_sensor", "proof_requests_sensor",
                                              "interrupted_proofs_sensor", "execution_requests_sensor",
                                              "execution_run_failures_sensor"}
    # Every asset carries the catch-up condition, so a missed hour runs as one run of all seven.
    assert all(graph.get(k).automation_condition is not None for k in graph.get_all_asset_keys())


def test_two_partitions_end_to_end(db_url, dagster_instance):
    for p in PARTITIONS:
        result = run_partition(db_url, dagster_instance, p)
        assert result.success, p
        checks = result.get_asset_check_evaluations()
        assert checks and all(c.passed for c in checks), [(c.check_name, c.passed) for c in checks]

    model = get_version()
    with session_scope(db_url) as s:
        # 720-hour windows ending one hour apart: 721 distinct hours per pool, 2 pools.
        assert repository.count(s, ProtocolMetric) == 2 * 721
        assert repository.count(s, RiskFeature) == 4
        assert repository.count(s, RiskScore) == 4
        assert repository.count(s, AllocationProposal) == 2
        decisions = s.scalars(select(AllocationDecision).order_by(AllocationDecision.timestamp)).all()
    assert [d.timestamp for d in decisions] == [
        datetime(2026, 11, 20, 10, tzinfo=timezone.utc), datetime(2026, 11, 20, 11, tzinfo=timezone.utc)]
    for d in decisions:
        assert d.jediswap_pct + d.ekubo_pct == 10_000
        assert d.model_hash == model.hash_hex
        assert 5 <= d.jediswap_risk <= 95 and 5 <= d.ekubo_risk <= 95
        assert d.proof_job_id is not None and d.transaction_hash is None

    # The stored decision equals a from-scratch evaluation of the stored statement.
    with session_scope(db_url) as s:
        proposal = repository.get_proposal(s, decisions[0].timestamp, model.version)
    from zk_pipeline.risk.statement import Statement

    summary = Statement.from_dict(proposal.statement).evaluate().summary()
    assert summary["allocation"] == {"jediswap_bps": decisions[0].jediswap_pct, "ekubo_bps": decisions[0].ekubo_pct}
    assert summary == proposal.statement["outputs"]

    # Materializations are visible in Dagster's Postgres event log, with metadata.
    mat = dagster_instance.get_latest_materialization_event(AssetKey("allocation_proposal"))
    assert mat is not None
    md = mat.asset_materialization.metadata
    assert md["model_hash"].value == model.hash_hex and "allocation" in md


def test_rematerializing_is_idempotent(db_url, dagster_instance):
    assert run_partition(db_url, dagster_instance, PARTITIONS[0]).success
    with session_scope(db_url) as s:
        before = s.scalars(select(AllocationDecision)).all()
        counts = [repository.count(s, m) for m in (ProtocolMetric, RiskFeature, RiskScore, AllocationProposal)]
    second = run_partition(db_url, dagster_instance, PARTITIONS[0])
    assert second.success
    proof_md = [e for e in second.get_asset_materialization_events()
                if e.asset_key == AssetKey("allocation_proof")][0].materialization.metadata
    assert proof_md["reused_existing_proof"].value is True
    with session_scope(db_url) as s:
        after = s.scalars(select(AllocationDecision)).all()
        assert repository.count(s, ProofJob) == 1 and repository.count(s, ProofAttempt) == 1
        assert [repository.count(s, m) for m in (ProtocolMetric, RiskFeature, RiskScore, AllocationProposal)] == counts
    assert [d.decision_id for d in before] == [d.decision_id for d in after]
    assert len(after) == 1


def test_bad_rows_fail_check_and_block_downstream(db_url, dagster_instance, tmp_path):
    from zk_pipeline.sources.replay import ReplaySource

    src = ReplaySource()
    hour = datetime(2026, 11, 20, 10, tzinfo=timezone.utc)
    bad_dataset_hour = src.dataset_hour(hour)
    frame = src.frame().copy()
    frame["timestamp"] = frame["hour"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    target = (frame["hour"] == bad_dataset_hour) & (frame["protocol"] == "ekubo")
    frame.loc[target, "price"] = -1.0
    path = tmp_path / "bad.csv"
    frame.drop(columns="hour").to_csv(path, index=False)

    result = run_partition(db_url, dagster_instance, PARTITIONS[0], replay_path=str(path), max_fill_hours=0)
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    quality = checks["metrics_quality"]
    assert not quality.passed
    table = quality.metadata["bad_rows"].value
    assert "ekubo" in table and "non_positive_price" in table and "2026-11-20T10:00:00Z" in table
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert materialized == {"protocol_metrics"}  # the blocking check stopped everything downstream
    with session_scope(db_url) as s:
        assert repository.count(s, AllocationDecision) == 0


def test_live_rpc_source_feeds_the_metrics_asset(db_url, dagster_instance):
    """The starknet_rpc source wired through the resource, against a JSON-RPC double on 127.0.0.1."""
    from datetime import timedelta

    from tests.sources.test_starknet_rpc import healthy_node
    from zk_pipeline.definitions import all_assets

    hour = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    with healthy_node() as node:
        res = materialize([a for a in all_assets if a.key == AssetKey("protocol_metrics")],
                          partition_key=hour.strftime("%Y-%m-%d-%H:%M"), instance=dagster_instance,
                          resources=pipeline_resources(db_url, kind="starknet_rpc", rpc_url=node.url + "/v1/SECRETKEY123456789"))
    assert res.success
    check = res.get_asset_check_evaluations()[0]
    assert check.passed, check.metadata
    with session_scope(db_url) as s:
        rows = s.scalars(select(ProtocolMetric)).all()
    assert {(r.protocol, r.hour) for r in rows} == {("ekubo", hour), ("jediswap", hour)}
    assert all(r.source == "starknet_rpc" for r in rows)


def test_a_proposal_whose_model_label_and_hash_disagree_is_not_proved(db_url, dagster_instance):
    """The stored statement's parameters are changed and re-hashed under the same version label."""
    from dagster import AssetSelection

    from zk_pipeline.risk.params import ModelParams
    from zk_pipeline.risk.statement import Statement

    partition = PARTITIONS[0]
    upstream = AssetSelection.assets("protocol_metrics", "risk_features", "risk_scores", "allocation_proposal")
    first = materialize(all_assets, selection=upstream, partition_key=partition,
                        resources=pipeline_resources(db_url), instance=dagster_instance)
    assert first.success
    with session_scope(db_url) as s:
        proposal = s.scalars(select(AllocationProposal)).one()
        stmt = Statement.from_dict(proposal.statement)
        loose = ModelParams(**{**stmt.params.__dict__, "max_single_bps": 10_000, "min_single_bps": 0})
        forged = Statement(stmt.hour, stmt.version, loose, stmt.series).with_outputs()
        assert forged.registration()[0] is False
        proposal.statement = forged.to_dict()
    result = materialize(all_assets, selection=AssetSelection.assets("allocation_proof"), partition_key=partition,
                         resources=pipeline_resources(db_url), instance=dagster_instance, raise_on_error=False)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    assert "is not the registered hash" in failure.step_failure_data.user_failure_data.description
    with session_scope(db_url) as s:
        assert repository.count(s, ProofJob) == 0
