"""``allocation_proof`` and ``verified_fact``: every decision carries a verified proof.

The proof step runs in the ``prover`` concurrency pool (limit in
``dagster.yaml``), so a backfill of many hours queues for the prover instead
of starting one proof per partition at once.
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
from sqlalchemy.orm import sessionmaker

from zk_pipeline.assets.partitions import hourly, md_table, partition_hour
from zk_pipeline.db import proofs, repository
from zk_pipeline.db.models import ProofStatus
from zk_pipeline.db.session import get_engine
from zk_pipeline.facts.builtin import compute_facts
from zk_pipeline.provers.orchestrator import ProofJobFailed, prove_statement_job
from zk_pipeline.resources import DatabaseResource, ProverResource, RiskModelResource
from zk_pipeline.risk.statement import Statement


def _attempts_table(session, job_id: str) -> str:
    rows = [[a.attempt, a.backend, a.outcome, a.duration_ms, (a.error or "")[:200].replace("|", "/")]
            for a in proofs.attempts_of(session, job_id)]
    return md_table(["#", "backend", "outcome", "ms", "error"], rows) if rows else "no attempts"


def _proposal_statement(database: DatabaseResource, context: AssetExecutionContext, model) -> Statement:
    hour = partition_hour(context)
    with database.session() as s:
        proposal = repository.get_proposal(s, hour, model.version)
        if proposal is None:
            raise Failure(description=f"no allocation proposal for {hour.isoformat()}")
        return Statement.from_dict(proposal.statement)


@asset(
    partitions_def=hourly,
    group_name="proofs",
    deps=["allocation_proposal"],
    pool="prover",
    kinds={"postgres"},
    check_specs=[AssetCheckSpec("proof_verifies", asset="allocation_proof", blocking=True,
                                description="The stored proof bytes verify against the stored statement.")],
)
def allocation_proof(context: AssetExecutionContext, database: DatabaseResource, prover: ProverResource,
                     risk_model: RiskModelResource) -> MaterializeResult:
    """A STARK proof that the proposal follows from the window's data under the model."""
    statement = _proposal_statement(database, context, risk_model.model())
    factory = sessionmaker(get_engine(database.url), expire_on_commit=False)
    backends = prover.build(on_start=lambda pid: context.log.info(f"prover process {pid} started"))
    try:
        outcome = prove_statement_job(factory, statement, backends, prover.policy(), hour=partition_hour(context))
    except ProofJobFailed as exc:
        with factory() as s:
            table = _attempts_table(s, exc.job_id)
        raise Failure(description=str(exc), metadata={"proof_job_id": exc.job_id, "attempts": MetadataValue.md(table)})
    job = outcome.job
    with factory() as s:
        table = _attempts_table(s, job.id)
        data = proofs.load_blob(s, job.proof_hash)
    # Independent re-check of what was stored, not of what the prover handed over.
    from zk_pipeline.stark import verify_statement

    check = verify_statement(statement, data, min_security_bits=prover.min_security_bits)
    return MaterializeResult(
        metadata={
            "proof_job_id": job.id,
            "reused_existing_proof": outcome.reused,
            "prover": job.source,
            "prove_ms": job.generation_time_ms,
            "verify_ms": job.verification_time_ms,
            "proof_bytes": job.proof_size,
            "security_bits": job.security_bits,
            "fact_hash": job.fact_hash,
            "statement_hash": job.statement_hash,
            "attempts": MetadataValue.md(table),
        },
        check_results=[AssetCheckResult(
            check_name="proof_verifies", passed=bool(check.valid), severity=AssetCheckSeverity.ERROR,
            metadata={"reason": check.reason or "valid", "security_bits": int(check.security_bits or 0)})],
    )


@asset(partitions_def=hourly, group_name="proofs", deps=["allocation_proof"], kinds={"postgres"})
def verified_fact(context: AssetExecutionContext, database: DatabaseResource, risk_model: RiskModelResource) -> MaterializeResult:
    """The fact registered for the proof, recomputed here from the statement alone."""
    statement = _proposal_statement(database, context, risk_model.model())
    with database.session() as s:
        job = proofs.find_verified_job(s, statement.statement_hash())
        if job is None or job.status != ProofStatus.verified:
            raise Failure(description="no verified proof job for this hour's statement")
        facts = compute_facts(statement, job.security_bits).to_json()
        if facts["fact_hash"] != job.fact_hash:
            raise Failure(description=f"fact hash mismatch: job has {job.fact_hash}, statement gives {facts['fact_hash']}")
        recorded = {f.verifier: f for f in proofs.facts_by_hash(s, job.fact_hash)}
        if "local" not in recorded:
            raise Failure(description=f"fact {job.fact_hash} has no local verification on record")
        job_id = job.id
    return MaterializeResult(metadata={
        "fact_hash": facts["fact_hash"], "program_hash": facts["program_hash"], "output_hash": facts["output_hash"],
        "verification_hash": facts["verification_hash"], "security_bits": facts["security_bits"],
        "verifiers": ", ".join(sorted(recorded)), "proof_job_id": job_id})
