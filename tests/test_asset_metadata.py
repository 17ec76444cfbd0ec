"""Numeric metadata on the market and risk assets, so the Dagster UI can plot them over partitions.

The assets up to the proposal are materialized for a few hours against the
real PostgreSQL and Dagster instance; every plotted number must be a numeric
metadata value and equal what a from-scratch evaluation of the stored
statement (or the stored snapshot) gives.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from dagster import AssetKey, AssetRecordsFilter, FloatMetadataValue, IntMetadataValue, materialize
from sqlalchemy import select

from tests.helpers import pipeline_resources
from zk_pipeline.assets.market import protocol_metrics
from zk_pipeline.assets.risk import allocation_proposal, risk_features, risk_scores
from zk_pipeline.db import repository
from zk_pipeline.db.models import ProtocolMetric
from zk_pipeline.db.session import session_scope
from zk_pipeline.risk.model import ALLOCATION_ORDER
from zk_pipeline.risk.registry import get_version
from zk_pipeline.risk.statement import Statement

HOURS = ["2026-11-20-10:00", "2026-11-20-11:00", "2026-11-20-12:00"]
FEATURES = ("volatility_annualized_bps", "volatility_bps", "utilization_bps", "apy_bps", "liquidity_tier", "age_days")
TERMS = ("utilization_term", "volatility_term", "liquidity_term", "audit_term", "age_term")


@pytest.fixture()
def materialized(db_url, dagster_instance):
    """``(url, {partition: {asset: metadata}})``, the metadata as stored in the instance's event log."""
    metadata = {}
    for partition in HOURS:
        result = materialize([protocol_metrics, risk_features, risk_scores, allocation_proposal],
                             partition_key=partition, resources=pipeline_resources(db_url), instance=dagster_instance)
        assert result.success, partition
        metadata[partition] = {}
        for asset in ("protocol_metrics", "risk_features", "risk_scores", "allocation_proposal"):
            records = dagster_instance.fetch_materializations(
                AssetRecordsFilter(asset_key=AssetKey(asset), asset_partitions=[partition]), limit=1).records
            metadata[partition][asset] = records[0].asset_materialization.metadata
    return db_url, metadata


def test_market_and_risk_numbers_are_numeric_metadata(materialized):
    url, metadata = materialized
    model = get_version()
    shares = []
    for partition in HOURS:
        hour = datetime.strptime(partition, "%Y-%m-%d-%H:%M").replace(tzinfo=timezone.utc)
        with session_scope(url) as s:
            statement = Statement.from_dict(repository.get_proposal(s, hour, model.version).statement)
            stored = {m.protocol: m for m in s.scalars(select(ProtocolMetric).where(ProtocolMetric.hour == hour))}
        result = statement.evaluate()

        market = metadata[partition]["protocol_metrics"]
        features = metadata[partition]["risk_features"]
        scores = metadata[partition]["risk_scores"]
        proposal = metadata[partition]["allocation_proposal"]
        for p in ALLOCATION_ORDER:
            r = result.protocols[p]
            for key in ("price", "tvl_usd", "volume_usd", "fees_usd"):
                assert isinstance(market[f"{p}_{key}"], FloatMetadataValue), key
            # One pool per protocol in the shipped data: the plotted numbers are that pool's snapshot.
            assert market[f"{p}_price"].value == pytest.approx(stored[p].price_e8 / 10**8)
            assert market[f"{p}_tvl_usd"].value == pytest.approx(stored[p].tvl_e6 / 10**6)
            assert market[f"{p}_volume_usd"].value == pytest.approx(stored[p].volume_e6 / 10**6)
            assert market[f"{p}_fees_usd"].value == pytest.approx(stored[p].fees_e6 / 10**6)
            assert market[f"{p}_tvl_usd"].value == pytest.approx(statement.series[p].tvl / 10**6)

            for key in FEATURES:
                assert isinstance(features[f"{p}_{key}"], IntMetadataValue), key
            assert features[f"{p}_volatility_annualized_bps"].value == r.volatility.volatility_annualized_bps
            assert [features[f"{p}_{k}"].value for k in FEATURES[1:]] == [
                r.volatility_bps, r.utilization_bps, r.apy_bps, r.liquidity_tier, r.age_days]

            assert all(isinstance(scores[f"{p}_{k}"], IntMetadataValue) for k in TERMS + ("risk",))
            assert [scores[f"{p}_{k}"].value for k in TERMS] == [
                r.utilization_term, r.volatility_term, r.liquidity_term, r.audit_term, r.age_term]
            assert scores[f"{p}_risk"].value == r.risk

            assert isinstance(proposal[f"{p}_score"], IntMetadataValue)
            assert proposal[f"{p}_score"].value == result.allocation.scores[p]
            assert (proposal[f"{p}_risk"].value, proposal[f"{p}_apy_bps"].value) == (r.risk, r.apy_bps)
            assert isinstance(proposal[f"{p}_bps"], IntMetadataValue)
        assert proposal["jediswap_bps"].value == result.allocation.jediswap_bps
        assert proposal["jediswap_bps"].value + proposal["ekubo_bps"].value == 10_000
        shares.append(proposal["jediswap_bps"].value)
        # The markdown tables stay beside the numbers.
        assert "features" in features and "risk_scores" in scores and "allocation" in proposal
    # The shipped replay data move the split from hour to hour (the bound does not pin it).
    assert len(set(shares)) > 1, shares
