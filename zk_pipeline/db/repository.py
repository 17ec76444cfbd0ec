"""Reads and idempotent writes of the app's records.

Writes are ``INSERT … ON CONFLICT DO UPDATE`` on each table's natural key, so
a re-materialized partition replaces its rows in place.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from zk_pipeline.db.models import (
    AllocationDecision,
    AllocationProposal,
    ModelVersionRecord,
    ProtocolMetric,
    RiskFeature,
    RiskScore,
)
from zk_pipeline.risk.model import ModelResult
from zk_pipeline.risk.registry import MODEL_VERSIONS, ModelVersion, get_version
from zk_pipeline.risk.statement import Statement

#: Namespace of decision ids: uuid5(namespace, "<hour ISO>|<model hash>").
DECISION_NAMESPACE = uuid.UUID("5b0f7a52-7c1e-4d55-9d0e-4f2a7d3c9e11")


def _upsert(session: Session, model, rows: list[dict], key: list[str]) -> None:
    if not rows:
        return
    stmt = insert(model).values(rows)
    updatable = {c: stmt.excluded[c] for c in rows[0] if c not in key}
    session.execute(stmt.on_conflict_do_update(index_elements=key, set_=updatable))


def sync_model_registry(session: Session) -> None:
    """Mirror the code's model versions into ``model_versions`` and mark the current one."""
    current = get_version().version
    _upsert(
        session,
        ModelVersionRecord,
        [
            {
                "version": mv.version,
                "model_hash": mv.hash_hex,
                "params": mv.params.to_dict(),
                "canonical_definition": mv.canonical().decode(),
                "description": mv.description,
                "is_current": mv.version == current,
            }
            for mv in MODEL_VERSIONS.values()
        ],
        ["version"],
    )


def upsert_metrics(session: Session, clean: pd.DataFrame, source: str) -> int:
    rows = [
        {
            "protocol": r.protocol,
            "pool": r.pool,
            "hour": r.hour.to_pydatetime(),
            "price_e8": int(r.price_e8),
            "tvl_e6": int(r.tvl_e6),
            "volume_e6": int(r.volume_e6),
            "fees_e6": int(r.fees_e6),
            "repaired": bool(r.repaired),
            "source": source,
        }
        for r in clean.itertuples(index=False)
    ]
    for i in range(0, len(rows), 1000):
        _upsert(session, ProtocolMetric, rows[i : i + 1000], ["protocol", "pool", "hour"])
    return len(rows)


def stored_real_metric_keys(session: Session, start: datetime, end: datetime) -> set[tuple[str, str, datetime]]:
    """(protocol, pool, hour) of the real (not repaired) rows stored for ``start..end``: the rows filler
    may never replace."""
    q = select(ProtocolMetric.protocol, ProtocolMetric.pool, ProtocolMetric.hour).where(
        ProtocolMetric.hour >= start, ProtocolMetric.hour <= end, ProtocolMetric.repaired.is_(False))
    return {(p, pool, hour) for p, pool, hour in session.execute(q)}


def metrics_window(session: Session, start: datetime, end: datetime) -> pd.DataFrame:
    q = select(
        ProtocolMetric.protocol, ProtocolMetric.pool, ProtocolMetric.hour, ProtocolMetric.price_e8,
        ProtocolMetric.tvl_e6, ProtocolMetric.volume_e6, ProtocolMetric.fees_e6, ProtocolMetric.repaired,
    ).where(ProtocolMetric.hour >= start, ProtocolMetric.hour <= end)
    rows = session.execute(q).all()
    df = pd.DataFrame(rows, columns=["protocol", "pool", "hour", "price_e8", "tvl_e6", "volume_e6", "fees_e6", "repaired"])
    if not df.empty:
        df["hour"] = pd.to_datetime(df["hour"], utc=True)
    return df


def write_features(session: Session, hour: datetime, version: int, result: ModelResult, statement: Statement) -> None:
    rows = []
    for name, r in result.protocols.items():
        rows.append({
            "hour": hour, "protocol": name, "model_version": version,
            "n_observations": len(statement.series[name].prices),
            "volatility_annualized_bps": r.volatility.volatility_annualized_bps,
            "volatility_bps": r.volatility_bps, "utilization_bps": r.utilization_bps, "apy_bps": r.apy_bps,
            "liquidity_tier": r.liquidity_tier, "age_days": r.age_days, "tvl_e6": statement.series[name].tvl,
            "volume_24h_e6": r.volume_sum, "fees_24h_e6": r.fees_sum,
        })
    _upsert(session, RiskFeature, rows, ["hour", "protocol", "model_version"])


def write_scores_terms(session: Session, hour: datetime, version: int, terms: dict[str, dict[str, int]]) -> None:
    """``terms`` maps protocol → ``risk_terms(...)`` output (the terms, ``raw`` and ``risk``)."""
    rows = [
        {"hour": hour, "protocol": name, "model_version": version, "risk": t["risk"],
         "components": {k: v for k, v in t.items() if k != "risk"}}
        for name, t in terms.items()
    ]
    _upsert(session, RiskScore, rows, ["hour", "protocol", "model_version"])


def write_proposal(session: Session, statement: Statement, model: ModelVersion, result: ModelResult) -> int:
    a = result.allocation
    _upsert(session, AllocationProposal, [{
        "hour": statement.hour, "model_version": model.version, "model_hash": model.hash_hex,
        "jediswap_pct": a.jediswap_bps, "ekubo_pct": a.ekubo_bps,
        "jediswap_risk": result.protocols["jediswap"].risk, "ekubo_risk": result.protocols["ekubo"].risk,
        "statement_hash": statement.with_outputs().statement_hash(), "statement": statement.with_outputs().to_dict(),
    }], ["hour", "model_version"])
    return session.scalar(select(AllocationProposal.id).where(
        AllocationProposal.hour == statement.hour, AllocationProposal.model_version == model.version))


def get_proposal(session: Session, hour: datetime, version: int) -> AllocationProposal | None:
    return session.scalar(select(AllocationProposal).where(
        AllocationProposal.hour == hour, AllocationProposal.model_version == version))


def decision_id_for(hour: datetime, model_hash_hex: str) -> str:
    return str(uuid.uuid5(DECISION_NAMESPACE, f"{hour.strftime('%Y-%m-%dT%H:%M:%SZ')}|{model_hash_hex}"))


def record_decision(session: Session, proposal: AllocationProposal, proof_job_id: str | None = None) -> str:
    decision_id = decision_id_for(proposal.hour, proposal.model_hash)
    _upsert(session, AllocationDecision, [{
        "decision_id": decision_id, "jediswap_pct": proposal.jediswap_pct, "ekubo_pct": proposal.ekubo_pct,
        "jediswap_risk": proposal.jediswap_risk, "ekubo_risk": proposal.ekubo_risk,
        "timestamp": proposal.hour, "model_version": proposal.model_version, "model_hash": proposal.model_hash,
        "proposal_id": proposal.id, "proof_job_id": proof_job_id,
    }], ["decision_id"])
    return decision_id


def count(session: Session, model, **filters) -> int:
    q = select(func.count()).select_from(model)
    for k, v in filters.items():
        q = q.where(getattr(model, k) == v)
    return session.scalar(q)
