"""Reads and idempotent writes of the app's records.

Writes are ``INSERT … ON CONFLICT DO UPDATE`` on each table's natural key, so
a re-materialized partition replaces its rows in place.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
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
    _upsert_batched(session, ProtocolMetric, rows, ["protocol", "pool", "hour"])
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


#: Rows per INSERT of the batched writes (a range of hours is written in a few statements, not one per hour).
BATCH_ROWS = 1000


def _upsert_batched(session: Session, model, rows: list[dict], key: list[str]) -> None:
    for i in range(0, len(rows), BATCH_ROWS):
        _upsert(session, model, rows[i : i + BATCH_ROWS], key)


def _feature_rows(hour: datetime, version: int, result: ModelResult, statement: Statement) -> list[dict]:
    return [{
        "hour": hour, "protocol": name, "model_version": version,
        "n_observations": len(statement.series[name].prices),
        "volatility_annualized_bps": r.volatility.volatility_annualized_bps,
        "volatility_bps": r.volatility_bps, "utilization_bps": r.utilization_bps, "apy_bps": r.apy_bps,
        "liquidity_tier": r.liquidity_tier, "age_days": r.age_days, "tvl_e6": statement.series[name].tvl,
        "volume_24h_e6": r.volume_sum, "fees_24h_e6": r.fees_sum,
    } for name, r in result.protocols.items()]


def write_features_many(session: Session, version: int,
                        items: Iterable[tuple[datetime, ModelResult, Statement]]) -> None:
    rows = [row for hour, result, statement in items for row in _feature_rows(hour, version, result, statement)]
    _upsert_batched(session, RiskFeature, rows, ["hour", "protocol", "model_version"])


def write_scores_many(session: Session, version: int, by_hour: Mapping[datetime, dict[str, dict[str, int]]]) -> None:
    """``by_hour`` maps hour → protocol → ``risk_terms(...)`` output (the terms, ``raw`` and ``risk``)."""
    rows = [
        {"hour": hour, "protocol": name, "model_version": version, "risk": t["risk"],
         "components": {k: v for k, v in t.items() if k != "risk"}}
        for hour, terms in by_hour.items() for name, t in terms.items()
    ]
    _upsert_batched(session, RiskScore, rows, ["hour", "protocol", "model_version"])


def features_of_hours(session: Session, hours: Sequence[datetime], version: int) -> dict[datetime, dict[str, RiskFeature]]:
    """hour → protocol → stored features, for ``hours`` under model ``version`` (one query)."""
    out: dict[datetime, dict[str, RiskFeature]] = {}
    for f in session.scalars(select(RiskFeature).where(RiskFeature.hour.in_(hours), RiskFeature.model_version == version)):
        out.setdefault(f.hour, {})[f.protocol] = f
    return out


def scores_of_hours(session: Session, hours: Sequence[datetime], version: int) -> dict[datetime, dict[str, int]]:
    """hour → protocol → stored risk score, for ``hours`` under model ``version`` (one query)."""
    out: dict[datetime, dict[str, int]] = {}
    for r in session.scalars(select(RiskScore).where(RiskScore.hour.in_(hours), RiskScore.model_version == version)):
        out.setdefault(r.hour, {})[r.protocol] = r.risk
    return out


def _proposal_row(statement: Statement, model: ModelVersion, result: ModelResult) -> dict:
    a = result.allocation
    full = statement.with_outputs()
    return {
        "hour": statement.hour, "model_version": model.version, "model_hash": model.hash_hex,
        "jediswap_pct": a.jediswap_bps, "ekubo_pct": a.ekubo_bps,
        "jediswap_risk": result.protocols["jediswap"].risk, "ekubo_risk": result.protocols["ekubo"].risk,
        "statement_hash": full.statement_hash(), "statement": full.to_dict(),
    }


def write_proposal(session: Session, statement: Statement, model: ModelVersion, result: ModelResult) -> int:
    write_proposals_many(session, model, [(statement, result)])
    return session.scalar(select(AllocationProposal.id).where(
        AllocationProposal.hour == statement.hour, AllocationProposal.model_version == model.version))


def write_proposals_many(session: Session, model: ModelVersion,
                         items: Iterable[tuple[Statement, ModelResult]]) -> None:
    rows = [_proposal_row(statement, model, result) for statement, result in items]
    _upsert_batched(session, AllocationProposal, rows, ["hour", "model_version"])


def proposals_of_hours(session: Session, hours: Sequence[datetime], version: int) -> dict[datetime, AllocationProposal]:
    return {p.hour: p for p in session.scalars(select(AllocationProposal).where(
        AllocationProposal.hour.in_(hours), AllocationProposal.model_version == version))}


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
