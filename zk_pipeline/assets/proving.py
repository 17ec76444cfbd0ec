"""``allocation_proof`` and ``verified_fact``: every decision carries a verified proof.

The proof step runs in the ``prover`` concurrency pool (limit in
``dagster.yaml``), so a backfill of many hours queues for the prover instead
of starting one proof per partition at once.

Both assets check what PostgreSQL holds, not what the prover handed over, and
they do it with the backend that made the proof: built-in proofs with the
built-in verifier, Stone proofs with ``cpu_air_verifier`` and their Integrity
fact, Atlantic proofs by asking the service again. With a Starknet node
configured, ``verified_fact`` also reads Integrity's FactRegistry itself
(``facts/integrity.py``) instead of taking a service's word for it.
"""

from datetime import datetime

from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)
from sqlalchemy.orm import sessionmaker

from zk_pipeline.assets.hour_ranges import HourFailed, HourRange, severity
from zk_pipeline.assets.partitions import backfill_policy, hourly, md_table
from zk_pipeline.db import proof_records, repository
from zk_pipeline.db.models import ProofStatus
from zk_pipeline.db.session import get_engine
from zk_pipeline.prover_pipes import prover_pipes
from zk_pipeline.provers.base import ProofArtifact, ProverError
from zk_pipeline.provers.orchestrator import ProofJobFailed, prove_statement_job, prove_statement_jobs
from zk_pipeline.facts.integrity import IntegrityError
from zk_pipeline.resources import DatabaseResource, IntegrityResource, ProverResource, RiskModelResource
from zk_pipeline.risk.statement import Statement


def attempts_table(session, job_id: str) -> str:
    rows = [[a.attempt, a.backend, a.outcome, a.duration_ms, (a.error or "")[:200].replace("|", "/")]
            for a in proof_records.attempts_of(session, job_id)]
    return md_table(["#", "backend", "outcome", "ms", "error"], rows) if rows else "no attempts"


def _proposal_statements(database: DatabaseResource, hours: HourRange, model) -> dict[datetime, Statement]:
    """The proposals' statements of the hours still to do; an hour without one, or whose model label
    the registry does not tie to its parameters, is left for a re-run."""
    with database.session() as s:
        proposals = repository.proposals_of_hours(s, hours.todo, model.version)
        found = {hour: Statement.from_dict(p.statement) for hour, p in proposals.items()}
    statements = {}

    def statement_of(hour):
        if hour not in found:
            raise HourFailed(f"no allocation proposal for {hour.isoformat()}")
        # A proof certifies parameters, not their label: only a label the registry ties to them is proved.
        registered, reason = found[hour].registration()
        if registered is not True:
            raise HourFailed(f"proposal for {hour.isoformat()} refused: {reason}")
        statements[hour] = found[hour]

    hours.each(statement_of)
    return statements


@asset(
    partitions_def=hourly,
    backfill_policy=backfill_policy,
    group_name="proofs",
    deps=["allocation_proposal"],
    pool="prover",
    kinds={"postgres"},
    check_specs=[AssetCheckSpec("proof_verifies", asset="allocation_proof", blocking=True,
                                description="The stored proof bytes verify against the stored statement.")],
)
def allocation_proof(context: AssetExecutionContext, database: DatabaseResource, prover: ProverResource,
                     risk_model: RiskModelResource) -> MaterializeResult:
    """A STARK proof that the proposal follows from the window's data under the model.

    Over many hours the proofs run ``ZKP_PROVER_PARALLELISM`` at a time (one per core by default),
    in batches when the first prover can (``orchestrator.prove_statement_jobs``); the step holds one
    slot of the ``prover`` pool, so two runs never prove at once.
    """
    hours = HourRange(context, database, "allocation_proof")
    statements = _proposal_statements(database, hours, risk_model.model())
    factory = sessionmaker(get_engine(database.url), expire_on_commit=False)
    backends = prover.build(on_start=lambda pid: context.log.info(f"prover process {pid} started"))
    outcomes: dict = {}
    with prover_pipes(context) as children:
        if hours.single and statements:
            outcomes = _prove_one_hour(context, factory, statements, backends, prover, children)
        elif statements:
            outcomes = prove_statement_jobs(factory, list(statements.items()), backends, prover.policy(),
                                            parallelism=prover.workers(), run_id=context.run.run_id)
    invalid: dict = {}
    bits: list[int] = []

    def recorded(hour):
        outcome = outcomes[hour]
        if isinstance(outcome, ProofJobFailed):
            raise HourFailed(str(outcome))
        job = outcome.job
        with factory() as s:
            table = attempts_table(s, job.id)
            data = proof_records.load_blob(s, job.proof_hash)
        valid, reason, security = _recheck(prover, job, data, statements[hour])
        if not valid:
            invalid[hour] = reason
            raise HourFailed(f"proof_verifies: {reason}")
        bits.append(security)
        return {"proof_job_id": job.id, "reused_existing_proof": outcome.reused, "prover": job.source,
                "prove_ms": job.generation_time_ms, "verify_ms": job.verification_time_ms,
                "proof_bytes": job.proof_size, "security_bits": job.security_bits, "fact_hash": job.fact_hash,
                "statement_hash": job.statement_hash, "attempts": MetadataValue.md(table)}

    hours.each(recorded)
    metadata = hours.finish(children.metadata(), fail_when_empty=not invalid)
    return MaterializeResult(
        metadata=metadata,
        check_results=[AssetCheckResult(
            check_name="proof_verifies", passed=not invalid, severity=severity(hours),
            metadata={"reason": "; ".join(sorted(set(invalid.values()))) or "valid",
                      "security_bits": min(bits) if bits else 0, "hours_invalid": len(invalid),
                      "verified_with": ", ".join(sorted({o.job.source for o in outcomes.values()
                                                         if not isinstance(o, ProofJobFailed)}))})],
    )


def _prove_one_hour(context, factory, statements, backends, prover, children) -> dict:
    """A single hour: one job, and a failure of every prover fails the step with its attempts."""
    [(hour, statement)] = statements.items()
    try:
        return {hour: prove_statement_job(factory, statement, backends, prover.policy(), hour=hour,
                                          run_id=context.run.run_id)}
    except ProofJobFailed as exc:
        with factory() as s:
            table = attempts_table(s, exc.job_id)
        raise Failure(description=str(exc), metadata={"proof_job_id": exc.job_id, "attempts": MetadataValue.md(table),
                                                      **children.metadata()})


def _stored_artifact(job, data: bytes | None) -> ProofArtifact:
    return ProofArtifact(proof=data or b"", backend=job.source, prove_ms=job.generation_time_ms or 0,
                         details=dict(job.details or {}))


def _recheck(prover: ProverResource, job, data: bytes | None, statement: Statement) -> tuple[bool, str, int]:
    """Verify the stored bytes again with the backend that made them: (valid, reason, security bits)."""
    if data is None:
        return False, f"proof bytes {job.proof_hash} are missing from the store", 0
    try:
        backend = prover.backend_named(job.source)
        v = backend.verify(statement, _stored_artifact(job, data), prover.min_security_bits)
    except (ProverError, ValueError) as exc:
        return False, f"cannot verify the stored {job.source} proof: {exc}", 0
    return bool(v.valid), v.reason, int(v.security_bits or 0)


#: Backends whose facts Integrity's FactRegistry can hold (it verifies Stone proofs, not the built-in STARK).
ONCHAIN_BACKENDS = frozenset({"stone", "atlantic"})


def _onchain_check(integrity: IntegrityResource, session, job, min_bits: int, log) -> str:
    """Look the fact up in Integrity's FactRegistry (when a node is configured); record what it holds.

    A registered fact becomes an ``onchain`` verification record (and the job's L2 fact). A
    fact Atlantic reported as registered but that the registry does not hold is a ``Failure``.
    A node that cannot be read is reported, not fatal: the proof was verified already.
    """
    registry = integrity.registry()
    if registry is None:
        return "not checked: no Starknet node configured (ZKP_INTEGRITY_RPC_URL)"
    if job.source not in ONCHAIN_BACKENDS:
        return f"not applicable: Integrity verifies Stone proofs, this is a {job.source} proof"
    claimed = job.l2_fact_hash  # Atlantic's report of what it registered
    fact = claimed or job.fact_hash
    try:
        lookup = registry.lookup(fact)
    except IntegrityError as exc:
        log.warning(f"on-chain fact check skipped: {exc}")
        return f"look-up failed: {exc}"
    best = lookup.best(min_bits)
    if best is None:
        if claimed:
            raise Failure(description=f"Atlantic reported fact {claimed} as registered, but " + lookup.summary(min_bits))
        return lookup.summary(min_bits)
    proof_records.record_fact(session, job.id, fact_hash=job.fact_hash, program_hash=job.program_hash,
                       output_hash=job.output_hash, verification_hash=best.verification_hash,
                       security_bits=best.security_bits, verifier="onchain")
    if not job.l2_fact_hash:
        job.l2_fact_hash, job.l2_verified_at = fact, proof_records.now()
    return lookup.summary(min_bits)


@asset(partitions_def=hourly, backfill_policy=backfill_policy, group_name="proofs", deps=["allocation_proof"],
       kinds={"postgres"})
def verified_fact(context: AssetExecutionContext, database: DatabaseResource, risk_model: RiskModelResource,
                  prover: ProverResource, integrity: IntegrityResource) -> MaterializeResult:
    """The fact registered for the proof, recomputed here (built-in: from the statement alone;
    Stone/Atlantic: from the stored proof's public memory, as Integrity does), and looked up in
    Integrity's FactRegistry on Starknet when a node is configured."""
    hours = HourRange(context, database, "verified_fact")
    statements = _proposal_statements(database, hours, risk_model.model())

    def fact_of(hour):
        statement = statements[hour]
        with database.session() as s:
            job = proof_records.find_verified_job(s, statement.statement_hash())
            if job is None or job.status != ProofStatus.verified:
                raise HourFailed("no verified proof job for this hour's statement")
            try:
                facts = prover.backend_named(job.source).facts(
                    statement, _stored_artifact(job, proof_records.load_blob(s, job.proof_hash)), job.security_bits)
            except (ProverError, ValueError) as exc:
                raise HourFailed(f"cannot recompute the fact of the {job.source} proof: {exc}") from None
            if facts["fact_hash"] != job.fact_hash:
                raise HourFailed(f"fact hash mismatch: job has {job.fact_hash}, recomputed {facts['fact_hash']}")
            try:
                onchain = _onchain_check(integrity, s, job, prover.min_security_bits, context.log)
            except Failure as exc:
                raise HourFailed(exc.description or "on-chain check failed") from None
            recorded = {f.verifier: f for f in proof_records.facts_by_hash(s, job.fact_hash)}
            if not {"local", "integrity", "onchain"} & set(recorded):
                raise HourFailed(f"fact {job.fact_hash} has no local or Integrity verification on record")
            job_id, source, l2_fact = job.id, job.source, job.l2_fact_hash
        return {
            "fact_hash": facts["fact_hash"], "program_hash": facts["program_hash"], "output_hash": facts["output_hash"],
            "verification_hash": facts.get("verification_hash") or "", "security_bits": int(facts["security_bits"]),
            "verifiers": ", ".join(sorted(recorded)), "prover": source, "l2_fact_hash": l2_fact or "",
            "integrity_onchain": onchain, "proof_job_id": job_id}

    hours.each(fact_of)
    return MaterializeResult(metadata=hours.finish())
