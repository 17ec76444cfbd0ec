"""Features → risk scores → allocation proposal → recorded decision.

Each step reads its inputs from PostgreSQL and writes its own table, so every
intermediate is inspectable and each asset stays a thin call into
``zk_pipeline.features`` / ``zk_pipeline.risk``.
"""


from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    MaterializeResult,
    MetadataValue,
    asset,
)

from zk_pipeline.assets.hour_ranges import HourFailed, HourRange, severity
from zk_pipeline.assets.partitions import backfill_policy, hourly, md_table, per_protocol_metadata
from zk_pipeline.db import proof_records, repository
from zk_pipeline.features.fixed_point import BPS
from zk_pipeline.risk.series import IncompleteWindow, build_statements
from zk_pipeline.risk.model import ALLOCATION_ORDER, allocate, risk_terms, share_bounds
from zk_pipeline.resources import DatabaseResource, RiskModelResource

FELT_SAFE_BOUND = 2**128
RISK_TERMS = ("utilization", "volatility", "liquidity", "audit", "age")


def _model_metadata(model) -> dict:
    return {"model_version": model.version, "model_hash": model.hash_hex}


@asset(
    partitions_def=hourly,
    backfill_policy=backfill_policy,
    group_name="risk",
    deps=["protocol_metrics"],
    kinds={"postgres"},
    check_specs=[AssetCheckSpec("features_fit_felt", asset="risk_features", blocking=True,
                                description="Every intermediate of the feature computation is below 2**128.")],
)
def risk_features(context: AssetExecutionContext, database: DatabaseResource, risk_model: RiskModelResource) -> MaterializeResult:
    """Volatility, utilization, APY, liquidity tier and age per protocol (integers)."""
    hours = HourRange(context, database, "risk_features")
    model = risk_model.model()
    span = model.params.volatility_window_hours
    with database.session() as session:
        rows = repository.metrics_window(session, *hours.window(span))
    statements = build_statements(rows, hours.todo, model)
    evaluated: dict = {}
    over_bound: dict = {}

    def features_of(hour):
        statement = statements[hour]
        if isinstance(statement, IncompleteWindow):
            raise HourFailed(str(statement))
        result = statement.evaluate()
        largest = _largest_intermediate(result)
        if largest >= FELT_SAFE_BOUND:
            over_bound[hour] = largest
            raise HourFailed(f"features_fit_felt: an intermediate of {largest.bit_length()} bits")
        evaluated[hour] = (result, statement, largest)
        return _features_metadata(result, statement, largest)

    hours.each(features_of)
    with database.session() as session:
        repository.write_features_many(session, model.version, [(h, r, st) for h, (r, st, _) in evaluated.items()])
    largest = max([big for _, _, big in evaluated.values()] + list(over_bound.values()) or [0])
    metadata = hours.finish({"rows_written": len(evaluated) * len(ALLOCATION_ORDER), **_model_metadata(model)},
                            fail_when_empty=not over_bound)
    return MaterializeResult(
        metadata=metadata,
        check_results=[AssetCheckResult(
            check_name="features_fit_felt", passed=not over_bound, severity=severity(hours),
            metadata={"largest_intermediate_bits": largest.bit_length(), "hours_over_bound": len(over_bound)})],
    )


def _largest_intermediate(result) -> int:
    return max(
        max(r.volatility.radicand, r.volatility.var_num, r.volatility.sum_squares, abs(r.volatility.sum_returns),
            r.volume_sum * BPS, r.fees_sum * 365 * BPS)
        for r in result.protocols.values()
    )


def _features_metadata(result, statement, largest: int) -> dict:
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
    return {"features": MetadataValue.md(table), "largest_intermediate_bits": largest.bit_length(), **numbers}


@asset(partitions_def=hourly, backfill_policy=backfill_policy, group_name="risk", deps=["risk_features"],
       kinds={"postgres"})
def risk_scores(context: AssetExecutionContext, database: DatabaseResource, risk_model: RiskModelResource) -> MaterializeResult:
    """Per-protocol risk (5..95) from the stored features, term by term."""
    hours = HourRange(context, database, "risk_scores")
    model = risk_model.model()
    with database.session() as session:
        stored = repository.features_of_hours(session, hours.todo, model.version)
    scored: dict = {}

    def scores_of(hour):
        feats = stored.get(hour, {})
        if sorted(feats) != sorted(ALLOCATION_ORDER):
            raise HourFailed(f"features missing for {hour.isoformat()}: have {sorted(feats)}")
        terms = {name: risk_terms(feats[name].utilization_bps, feats[name].volatility_bps, feats[name].liquidity_tier,
                                  model.params.protocols[name].audit_score, feats[name].age_days, model.params)
                 for name in ALLOCATION_ORDER}
        scored[hour] = terms
        table = md_table(["protocol", *RISK_TERMS, "risk"], [[n, *(t[k] for k in RISK_TERMS), t["risk"]]
                                                            for n, t in terms.items()])
        return {"risk_scores": MetadataValue.md(table), **per_protocol_metadata(
            {n: {"risk": t["risk"], **{f"{k}_term": t[k] for k in RISK_TERMS}} for n, t in terms.items()})}

    hours.each(scores_of)
    with database.session() as session:
        repository.write_scores_many(session, model.version, scored)
    return MaterializeResult(metadata=hours.finish(_model_metadata(model)))


@asset(
    partitions_def=hourly,
    backfill_policy=backfill_policy,
    group_name="risk",
    deps=["risk_scores"],
    kinds={"postgres"},
    check_specs=[AssetCheckSpec("allocation_valid", asset="allocation_proposal", blocking=True,
                                description="Shares sum to 10,000 bps, respect the model's bounds, and match a "
                                            "from-scratch evaluation of the statement.")],
)
def allocation_proposal(context: AssetExecutionContext, database: DatabaseResource, risk_model: RiskModelResource) -> MaterializeResult:
    """The split in basis points, stored with the full statement it follows from."""
    hours = HourRange(context, database, "allocation_proposal")
    model = risk_model.model()
    p = model.params
    lo, hi = share_bounds(p)
    with database.session() as session:
        scores_by_hour = repository.scores_of_hours(session, hours.todo, model.version)
        features_by_hour = repository.features_of_hours(session, hours.todo, model.version)
        rows = repository.metrics_window(session, *hours.window(p.volatility_window_hours))
    statements = build_statements(rows, hours.todo, model)
    proposals: list = []
    invalid: dict = {}

    def proposal_of(hour):
        scores = scores_by_hour.get(hour, {})
        apy = {name: f.apy_bps for name, f in features_by_hour.get(hour, {}).items()}
        if sorted(scores) != sorted(ALLOCATION_ORDER) or sorted(apy) != sorted(ALLOCATION_ORDER):
            raise HourFailed(f"scores or features missing for {hour.isoformat()}")
        statement = statements[hour]
        if isinstance(statement, IncompleteWindow):
            raise HourFailed(str(statement))
        alloc = allocate(apy, scores, p)
        reference = statement.evaluate()
        proposals.append((statement, reference))
        problems = []
        if alloc.jediswap_bps + alloc.ekubo_bps != BPS:
            problems.append("shares do not sum to 10000")
        if not (lo <= alloc.jediswap_bps <= hi and lo <= alloc.ekubo_bps <= hi):
            problems.append(f"a share is outside [{lo}, {hi}]")
        if (alloc.jediswap_bps, alloc.ekubo_bps) != (reference.allocation.jediswap_bps,
                                                     reference.allocation.ekubo_bps):
            problems.append("step-by-step result differs from the statement's evaluation")
        if problems:
            invalid[hour] = "; ".join(problems)
            raise HourFailed(f"allocation_valid: {invalid[hour]}")
        table = md_table(["protocol", "risk", "apy_bps", "score", "share (bps)"],
                         [[n, scores[n], apy[n], alloc.scores[n], getattr(alloc, f"{n}_bps")] for n in ALLOCATION_ORDER])
        return {"allocation": MetadataValue.md(table), "jediswap_bps": MetadataValue.int(alloc.jediswap_bps),
                "ekubo_bps": MetadataValue.int(alloc.ekubo_bps),
                "unclamped_jediswap_bps": MetadataValue.int(alloc.raw_jediswap_bps),
                **per_protocol_metadata({n: {"score": alloc.scores[n], "risk": scores[n], "apy_bps": apy[n]}
                                         for n in ALLOCATION_ORDER}),
                "statement_hash": statement.with_outputs().statement_hash()}

    hours.each(proposal_of)
    with database.session() as session:  # an invalid proposal is stored too, for inspection; it is not proved
        repository.write_proposals_many(session, model, proposals)
    metadata = hours.finish(_model_metadata(model), fail_when_empty=not invalid)
    return MaterializeResult(
        metadata=metadata,
        check_results=[AssetCheckResult(
            check_name="allocation_valid", passed=not invalid, severity=severity(hours),
            metadata={"problems": "; ".join(sorted(set(invalid.values()))) or "none", "bounds_bps": f"[{lo}, {hi}]",
                      "hours_invalid": len(invalid)})],
    )


@asset(partitions_def=hourly, backfill_policy=backfill_policy, group_name="decisions", deps=["verified_fact"],
       kinds={"postgres"})
def allocation_decision(context: AssetExecutionContext, database: DatabaseResource, risk_model: RiskModelResource) -> MaterializeResult:
    """The decision record, linked to its verified proof; its id derives from hour and model hash."""
    hours = HourRange(context, database, "allocation_decision")
    model = risk_model.model()
    with database.session() as session:
        proposals = repository.proposals_of_hours(session, hours.todo, model.version)

        def decision_of(hour):
            proposal = proposals.get(hour)
            if proposal is None:
                raise HourFailed(f"no allocation proposal for {hour.isoformat()}")
            job = proof_records.find_verified_job(session, proposal.statement_hash)
            if job is None:
                raise HourFailed(f"no verified proof for the proposal of {hour.isoformat()}; not recording")
            decision_id = repository.record_decision(session, proposal, proof_job_id=job.id)
            return {"decision_id": decision_id, "jediswap_pct": proposal.jediswap_pct,
                    "ekubo_pct": proposal.ekubo_pct, "jediswap_risk": proposal.jediswap_risk,
                    "ekubo_risk": proposal.ekubo_risk, "proof_job_id": job.id, "fact_hash": job.fact_hash}

        hours.each(decision_of)
    return MaterializeResult(metadata=hours.finish_last({"executed": False, **_model_metadata(model)}))
