"""Features → risk scores → allocation proposal → recorded decision.

Each step reads its inputs from PostgreSQL and writes its own table, so every
intermediate is inspectable and each asset stays a thin call into
``zk_pipeline.features`` / ``zk_pipeline.risk``.
"""


from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)
from sqlalchemy import select

from zk_pipeline.assets.partitions import hourly, md_table, partition_hour, per_protocol_metadata
from zk_pipeline.db import proof_records, repository
from zk_pipeline.db.models import RiskFeature, RiskScore
from zk_pipeline.features.fixed_point import BPS
from zk_pipeline.risk.series import IncompleteWindow, build_statement
from zk_pipeline.risk.model import ALLOCATION_ORDER, allocate, risk_terms, share_bounds
from zk_pipeline.resources import DatabaseResource, RiskModelResource
from zk_pipeline.sources.base import Window

FELT_SAFE_BOUND = 2**128
RISK_TERMS = ("utilization", "volatility", "liquidity", "audit", "age")


def _model_metadata(model) -> dict:
    return {"model_version": model.version, "model_hash": model.hash_hex}


@asset(
    partitions_def=hourly,
    group_name="risk",
    deps=["protocol_metrics"],
    kinds={"postgres"},
    check_specs=[AssetCheckSpec("features_fit_felt", asset="risk_features", blocking=True,
                                description="Every intermediate of the feature computation is below 2**128.")],
)
def risk_features(context: AssetExecutionContext, database: DatabaseResource, risk_model: RiskModelResource) -> MaterializeResult:
    """Volatility, utilization, APY, liquidity tier and age per protocol (integers)."""
    hour = partition_hour(context)
    model = risk_model.model()
    window = Window(hour, model.params.volatility_window_hours)
    with database.session() as session:
        rows = repository.metrics_window(session, window.start, window.end)
        try:
            statement = build_statement(rows, hour, model)
        except IncompleteWindow as exc:
            raise Failure(description=str(exc), allow_retries=False) from exc
        result = statement.evaluate()
        repository.write_features(session, hour, model.version, result, statement)

    largest = max(
        max(r.volatility.radicand, r.volatility.var_num, r.volatility.sum_squares, abs(r.volatility.sum_returns),
            r.volume_sum * BPS, r.fees_sum * 365 * BPS)
        for r in result.protocols.values()
    )
    table = md_table(
        ["protocol", "observations", "volatility (annualized bps)", "volatility_bps", "utilization_bps", "apy_bps",
         "liquidity tier", "age (days)"],
        [[n, len(statement.series[n].prices), r.volatility.volatility_annualized_bps, r.volatility_bps,
          r.utilization_bps, r.apy_bps, r.liquidity_tier, r.age_days] for n, r in result.protocols.items()],
    )
    numbers = per_protocol_metadata({n: {
        "volatility_annualized_bps": r.volatility.volatility_annualized_bps, "volatility_bps": r.volatility_bps,
        "utilization_bps": r.utilization_bps, "apy_bps": r.apy_bps, "liquidity_tier": r.liquidity_tier,
        "age_days": r.age_days} for n, r in result.protocols.items()})
    return MaterializeResult(
        metadata={"features": MetadataValue.md(table), "rows_written": len(result.protocols),
                  "largest_intermediate_bits": largest.bit_length(), **numbers, **_model_metadata(model)},
        check_results=[AssetCheckResult(
            check_name="features_fit_felt", passed=largest < FELT_SAFE_BOUND, severity=AssetCheckSeverity.ERROR,
            metadata={"largest_intermediate_bits": largest.bit_length()})],
    )


@asset(partitions_def=hourly, group_name="risk", deps=["risk_features"], kinds={"postgres"})
def risk_scores(context: AssetExecutionContext, database: DatabaseResource, risk_model: RiskModelResource) -> MaterializeResult:
    """Per-protocol risk (5..95) from the stored features, term by term."""
    hour = partition_hour(context)
    model = risk_model.model()
    with database.session() as session:
        feats = {f.protocol: f for f in session.scalars(select(RiskFeature).where(
            RiskFeature.hour == hour, RiskFeature.model_version == model.version))}
        if sorted(feats) != sorted(ALLOCATION_ORDER):
            raise Failure(description=f"features missing for {hour.isoformat()}: have {sorted(feats)}")
        scores = {}
        for name in ALLOCATION_ORDER:
            f = feats[name]
            scores[name] = risk_terms(f.utilization_bps, f.volatility_bps, f.liquidity_tier,
                                      model.params.protocols[name].audit_score, f.age_days, model.params)
        repository.write_scores_terms(session, hour, model.version, scores)
    table = md_table(["protocol", *RISK_TERMS, "risk"], [[n, *(t[k] for k in RISK_TERMS), t["risk"]]
                                                        for n, t in scores.items()])
    numbers = per_protocol_metadata({n: {"risk": t["risk"], **{f"{k}_term": t[k] for k in RISK_TERMS}}
                                     for n, t in scores.items()})
    return MaterializeResult(metadata={"risk_scores": MetadataValue.md(table), **numbers, **_model_metadata(model)})


@asset(
    partitions_def=hourly,
    group_name="risk",
    deps=["risk_scores"],
    kinds={"postgres"},
    check_specs=[AssetCheckSpec("allocation_valid", asset="allocation_proposal", blocking=True,
                                description="Shares sum to 10,000 bps, respect the model's bounds, and match a "
                                            "from-scratch evaluation of the statement.")],
)
def allocation_proposal(context: AssetExecutionContext, database: DatabaseResource, risk_model: RiskModelResource) -> MaterializeResult:
    """The split in basis points, stored with the full statement it follows from."""
    hour = partition_hour(context)
    model = risk_model.model()
    p = model.params
    window = Window(hour, p.volatility_window_hours)
    with database.session() as session:
        scores = {s.protocol: s.risk for s in session.scalars(select(RiskScore).where(
            RiskScore.hour == hour, RiskScore.model_version == model.version))}
        apy = {f.protocol: f.apy_bps for f in session.scalars(select(RiskFeature).where(
            RiskFeature.hour == hour, RiskFeature.model_version == model.version))}
        if sorted(scores) != sorted(ALLOCATION_ORDER) or sorted(apy) != sorted(ALLOCATION_ORDER):
            raise Failure(description=f"scores or features missing for {hour.isoformat()}")
        alloc = allocate(apy, scores, p)
        statement = build_statement(repository.metrics_window(session, window.start, window.end), hour, model)
        reference = statement.evaluate()
        repository.write_proposal(session, statement, model, reference)

    lo, hi = share_bounds(p)
    problems = []
    if alloc.jediswap_bps + alloc.ekubo_bps != BPS:
        problems.append("shares do not sum to 10000")
    if not (lo <= alloc.jediswap_bps <= hi and lo <= alloc.ekubo_bps <= hi):
        problems.append(f"a share is outside [{lo}, {hi}]")
    if (alloc.jediswap_bps, alloc.ekubo_bps) != (reference.allocation.jediswap_bps, reference.allocation.ekubo_bps):
        problems.append("step-by-step result differs from the statement's evaluation")
    table = md_table(["protocol", "risk", "apy_bps", "score", "share (bps)"],
                     [[n, scores[n], apy[n], alloc.scores[n], getattr(alloc, f"{n}_bps")] for n in ALLOCATION_ORDER])
    return MaterializeResult(
        metadata={"allocation": MetadataValue.md(table), "jediswap_bps": MetadataValue.int(alloc.jediswap_bps),
                  "ekubo_bps": MetadataValue.int(alloc.ekubo_bps),
                  "unclamped_jediswap_bps": MetadataValue.int(alloc.raw_jediswap_bps),
                  **per_protocol_metadata({n: {"score": alloc.scores[n], "risk": scores[n], "apy_bps": apy[n]}
                                           for n in ALLOCATION_ORDER}),
                  "statement_hash": statement.with_outputs().statement_hash(), **_model_metadata(model)},
        check_results=[AssetCheckResult(
            check_name="allocation_valid", passed=not problems, severity=AssetCheckSeverity.ERROR,
            metadata={"problems": "; ".join(problems) or "none", "bounds_bps": f"[{lo}, {hi}]"})],
    )


@asset(partitions_def=hourly, group_name="decisions", deps=["verified_fact"], kinds={"postgres"})
def allocation_decision(context: AssetExecutionContext, database: DatabaseResource, risk_model: RiskModelResource) -> MaterializeResult:
    """The decision record, linked to its verified proof; its id derives from hour and model hash."""
    hour = partition_hour(context)
    model = risk_model.model()
    with database.session() as session:
        proposal = repository.get_proposal(session, hour, model.version)
        if proposal is None:
            raise Failure(description=f"no allocation proposal for {hour.isoformat()}")
        job = proof_records.find_verified_job(session, proposal.statement_hash)
        if job is None:
            raise Failure(description=f"no verified proof for the proposal of {hour.isoformat()}; not recording")
        decision_id = repository.record_decision(session, proposal, proof_job_id=job.id)
        summary = (proposal.jediswap_pct, proposal.ekubo_pct, proposal.jediswap_risk, proposal.ekubo_risk)
    return MaterializeResult(metadata={
        "decision_id": decision_id, "jediswap_pct": summary[0], "ekubo_pct": summary[1],
        "jediswap_risk": summary[2], "ekubo_risk": summary[3], "proof_job_id": job.id, "fact_hash": job.fact_hash,
        "executed": False, **_model_metadata(model)})
