"""Run a proof job: backends in order, retries with backoff, nothing succeeds unverified.

A job's status goes ``queued`` → ``running`` (an attempt is under way) →
``succeeded`` (the backend returned a proof; not trusted yet) → ``verified``;
a proof that fails verification sends the job back to ``running`` for the
next attempt.

For each backend of the fallback list: an unavailable backend is recorded and
skipped; a crash, a timeout or a proof that does not verify is recorded as a
failed attempt and retried after ``backoff_s * factor**k`` up to
``max_attempts``; then the next backend gets its turn. The job becomes
``verified`` only after the proof verified (locally, or by the remote service
for remote backends) at ``min_security_bits`` or more; it ends ``rejected`` if
the last failure was a proof that did not verify, ``failed`` otherwise.
Every attempt is a row in ``proof_attempts`` with its error. A job whose
prover is stopped from outside (SIGTERM/SIGINT, a lost database, any error
that is not the prover's) is closed ``interrupted`` with the reason when the
database still answers; when the process dies outright, the run's failure
closes it (``automation.interrupted_proofs_sensor``).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from zk_pipeline.db import proof_records
from zk_pipeline.db.models import ProofJob, ProofStatus
from zk_pipeline.provers.base import (
    ProofArtifact,
    ProofRejected,
    ProverBackend,
    ProverError,
    ProverTimeout,
    ProverUnavailable,
    Verification,
)
from zk_pipeline.redaction import public_text
from zk_pipeline.risk.statement import Statement

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 2  # per backend
    backoff_s: float = 1.0
    backoff_factor: float = 2.0
    timeout_s: float = 300.0
    min_security_bits: int = 96


class ProofJobFailed(RuntimeError):
    def __init__(self, job_id: str, message: str) -> None:
        super().__init__(message)
        self.job_id = job_id


@dataclass(frozen=True)
class JobOutcome:
    job: ProofJob
    artifact: ProofArtifact | None
    verification: Verification | None
    reused: bool


def _attempt(factory: sessionmaker[Session], job_id: str, backend: ProverBackend, statement: Statement,
             policy: RetryPolicy) -> tuple[ProofArtifact, Verification]:
    artifact = backend.prove(statement, backend.timeout_s or policy.timeout_s)
    with factory.begin() as s:
        proof_records.get_job(s, job_id).status = ProofStatus.succeeded
    return artifact, _verified(backend, statement, artifact, policy)


def _verified(backend: ProverBackend, statement: Statement, artifact: ProofArtifact,
              policy: RetryPolicy) -> Verification:
    """The backend's verification of a proof it returned; ``ProofRejected`` when it does not verify."""
    verification = backend.verify(statement, artifact, policy.min_security_bits)
    if not verification.valid:
        raise ProofRejected(f"{backend.name}: proof does not verify: {verification.reason}")
    return verification


def _failed_outcome(exc: ProverError) -> str:
    """What ``proof_attempts.outcome`` records for a prover error."""
    return "timeout" if isinstance(exc, ProverTimeout) else "rejected" if isinstance(exc, ProofRejected) else "failed"


def run_job(
    factory: sessionmaker[Session],
    job_id: str,
    backends: Sequence[ProverBackend],
    policy: RetryPolicy = RetryPolicy(),
    sleep: Callable[[float], None] = time.sleep,
) -> JobOutcome:
    with factory.begin() as s:
        job = proof_records.get_job(s, job_id)
        statement = Statement.from_dict(job.statement)
        origin = job.origin
    if not backends:
        raise ValueError("no prover backends configured")
    try:
        return _run_backends(factory, job_id, statement, backends, policy, sleep)
    except ProofJobFailed:
        raise
    except BaseException as exc:
        if origin != "api":  # the API takes up its own unfinished jobs (leases): they stay open for it
            _close_interrupted(factory, job_id, exc)
        raise


def _close_interrupted(factory: sessionmaker[Session], job_id: str, exc: BaseException) -> None:
    """Best effort: the cause may be the database itself, and then the run's failure closes the job."""
    reason = public_text(f"interrupted: {type(exc).__name__}: {exc}")[:2000]
    try:
        with factory.begin() as s:
            proof_records.interrupt(s, reason, job_id=job_id)
    except Exception as db_exc:  # noqa: BLE001 - the original exception is the one that matters
        log.warning("proof job %s interrupted and not closed: %s", job_id, public_text(str(db_exc)))


def _run_backends(factory: sessionmaker[Session], job_id: str, statement: Statement,
                  backends: Sequence[ProverBackend], policy: RetryPolicy,
                  sleep: Callable[[float], None]) -> JobOutcome:
    last: ProverError | None = None
    for backend in backends:
        for n in range(policy.max_attempts):
            with factory.begin() as s:
                attempt_id = proof_records.start_attempt(s, job_id, backend.name).id
            try:
                backend.check_available()
                artifact, verification = _attempt(factory, job_id, backend, statement, policy)
            except ProverUnavailable as exc:
                last = exc
                with factory.begin() as s:
                    proof_records.finish_attempt(s, attempt_id, "unavailable", public_text(str(exc)))
                log.warning("prover %s unavailable: %s", backend.name, public_text(str(exc)))
                break
            except ProverError as exc:
                last = exc
                outcome = _failed_outcome(exc)
                # A prover's message may quote its stderr: masked before it is stored or logged.
                with factory.begin() as s:
                    proof_records.finish_attempt(s, attempt_id, outcome, public_text(str(exc)))
                    proof_records.get_job(s, job_id).status = ProofStatus.running
                log.warning("prover %s attempt %d %s: %s", backend.name, n + 1, outcome, public_text(str(exc)))
                if n + 1 < policy.max_attempts:
                    sleep(policy.backoff_s * policy.backoff_factor**n)
                continue
            with factory.begin() as s:
                proof_records.finish_attempt(s, attempt_id, "succeeded")
                job = _record_success(s, job_id, statement, backend, artifact, verification)
            return JobOutcome(job=job, artifact=artifact, verification=verification, reused=False)
    final = ProofStatus.rejected if isinstance(last, ProofRejected) else ProofStatus.failed
    with factory.begin() as s:
        job = proof_records.get_job(s, job_id)
        job.status = final
        job.last_error = public_text(str(last)) if last else "no backend ran"
    raise ProofJobFailed(job_id, f"proof job {job_id} {final.value}: {public_text(str(last))}")


def _record_success(s: Session, job_id: str, statement: Statement, backend: ProverBackend, artifact: ProofArtifact,
                    verification: Verification) -> ProofJob:
    job = proof_records.get_job(s, job_id)
    f = backend.facts(statement, artifact, verification.security_bits)
    job.proof_hash = proof_records.store_blob(s, artifact.proof)
    job.source = artifact.backend
    job.generated_at = proof_records.now()
    job.proof_size = len(artifact.proof)
    job.generation_time_ms = artifact.prove_ms
    job.verification_time_ms = verification.verify_ms
    job.security_bits = verification.security_bits
    job.program_hash, job.output_hash, job.fact_hash = f["program_hash"], f["output_hash"], f["fact_hash"]
    job.details = _json_safe(artifact.details) or None
    if verification.l2_fact_hash:
        job.l2_fact_hash, job.l2_verified_at = verification.l2_fact_hash, proof_records.now()
    job.status = ProofStatus.verified
    job.last_error = None
    proof_records.record_fact(s, job_id, fact_hash=f["fact_hash"], program_hash=f["program_hash"],
                       output_hash=f["output_hash"], verification_hash=f.get("verification_hash"),
                       security_bits=verification.security_bits, verifier=verification.verifier)
    return job


def prove_statement_job(
    factory: sessionmaker[Session],
    statement: Statement,
    backends: Sequence[ProverBackend],
    policy: RetryPolicy = RetryPolicy(),
    hour=None,
    sleep: Callable[[float], None] = time.sleep,
    run_id: str | None = None,
) -> JobOutcome:
    """Reuse a verified job for the same statement, or create one and run it.

    A stored proof is reused only after it verifies again with the backend
    that made it: a proof from an older prover version (or damaged bytes)
    must not block an hour forever, so it is passed over and a new job —
    the old one kept for audit — proves the statement afresh.
    """
    reused, statement, job_id = _reuse_or_create(factory, statement, backends, policy, hour, run_id)
    return reused or run_job(factory, job_id, backends, policy, sleep)


def _reuse_or_create(factory: sessionmaker[Session], statement: Statement, backends: Sequence[ProverBackend],
                     policy: RetryPolicy, hour, run_id: str | None) -> tuple[JobOutcome | None, Statement, str | None]:
    """(the verified job to reuse, or None; the statement with its outputs; the new job's id, or None)."""
    statement = statement if statement.outputs is not None else statement.with_outputs()
    with factory.begin() as s:
        existing = proof_records.find_verified_job(s, statement.statement_hash())
        blob = proof_records.load_blob(s, existing.proof_hash) if existing is not None else None
    if existing is not None and _still_verifies(existing, blob, statement, backends, policy):
        return JobOutcome(job=existing, artifact=None, verification=None, reused=True), statement, None
    with factory.begin() as s:
        return None, statement, proof_records.create_job(s, statement, hour, run_id=run_id).id


def prove_statement_jobs(
    factory: sessionmaker[Session],
    statements: Sequence[tuple[datetime, Statement]],
    backends: Sequence[ProverBackend],
    policy: RetryPolicy = RetryPolicy(),
    parallelism: int = 1,
    run_id: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[datetime, JobOutcome | ProofJobFailed]:
    """``prove_statement_job`` for many hours at once (a backfill's range): per hour its outcome or failure.

    Verified proofs are reused as for one hour. When the first backend proves batches (the built-in
    one), the new statements are split into ``parallelism`` batches, one child each, all at once: the
    batch is each job's first attempt. A statement a batch did not prove, and every statement when the
    first backend has no batches, then goes through ``run_job`` as a single hour does (its retries and
    fallbacks), ``parallelism`` jobs at a time. One hour's failure is its own: the others go on.
    """
    if not backends:
        raise ValueError("no prover backends configured")
    results: dict[datetime, JobOutcome | ProofJobFailed] = {}
    todo: list[tuple[datetime, Statement, str]] = []
    for hour, statement in statements:
        reused, statement, job_id = _reuse_or_create(factory, statement, backends, policy, hour, run_id)
        if reused:
            results[hour] = reused
        else:
            todo.append((hour, statement, job_id))
    parallelism = max(1, parallelism)
    unproved = _prove_batches(factory, todo, backends[0], policy, parallelism, results) if todo else []

    def one(item: tuple[datetime, Statement, str]) -> JobOutcome | ProofJobFailed:
        try:
            return run_job(factory, item[2], backends, policy, sleep)
        except ProofJobFailed as exc:
            return exc

    with ThreadPoolExecutor(max_workers=parallelism, thread_name_prefix="prove") as pool:
        for item, outcome in zip(unproved, pool.map(one, unproved)):
            results[item[0]] = outcome
    return results


#: Statements per batch child: enough to pay for its start-up (about one proof), few enough that a
#: thread verifies one batch while the other children still prove theirs.
BATCH_MIN, BATCH_MAX = 4, 32


def _prove_batches(factory: sessionmaker[Session], todo: list[tuple[datetime, Statement, str]],
                   backend: ProverBackend, policy: RetryPolicy, parallelism: int,
                   results: dict[datetime, JobOutcome | ProofJobFailed]) -> list[tuple[datetime, Statement, str]]:
    """The batch attempt of ``prove_statement_jobs``; returns what it left unproved."""
    prove_batch = getattr(backend, "prove_batch", None)
    if prove_batch is None:
        return todo
    try:
        backend.check_available()
    except ProverUnavailable:
        return todo  # ``run_job`` records why, per job
    size = max(BATCH_MIN, min(BATCH_MAX, -(-len(todo) // (parallelism * 3))))
    chunks = [todo[i:i + size] for i in range(0, len(todo), size)]
    attempts: dict[str, int] = {}
    with factory.begin() as s:
        for _, _, job_id in todo:
            attempts[job_id] = proof_records.start_attempt(s, job_id, backend.name).id
    timeout = backend.timeout_s or policy.timeout_s

    def prove_and_record(chunk: list[tuple[datetime, Statement, str]]) -> list[tuple[datetime, Statement, str]]:
        """One child proves the chunk; each proof is verified here before it is recorded."""
        left = []
        for (hour, statement, job_id), outcome in zip(chunk, prove_batch([st for _, st, _ in chunk], timeout)):
            if isinstance(outcome, ProofArtifact):
                try:
                    verification = _verified(backend, statement, outcome, policy)
                except ProverError as exc:
                    outcome = exc
                else:
                    with factory.begin() as s:
                        proof_records.finish_attempt(s, attempts[job_id], "succeeded")
                        job = _record_success(s, job_id, statement, backend, outcome, verification)
                    results[hour] = JobOutcome(job=job, artifact=outcome, verification=verification, reused=False)
                    continue
            kind = _failed_outcome(outcome)
            with factory.begin() as s:
                proof_records.finish_attempt(s, attempts[job_id], kind, public_text(str(outcome)))
            log.warning("batch proof of %s %s: %s", hour, kind, public_text(str(outcome)))
            left.append((hour, statement, job_id))
        return left

    with ThreadPoolExecutor(max_workers=parallelism, thread_name_prefix="prove-batch") as pool:
        return [item for left in pool.map(prove_and_record, chunks) for item in left]


def _still_verifies(job: ProofJob, blob: bytes | None, statement: Statement, backends: Sequence[ProverBackend],
                    policy: RetryPolicy) -> bool:
    backend = next((b for b in backends if b.name == job.source), None)
    if blob is None or backend is None:
        return False
    try:
        artifact = ProofArtifact(proof=blob, backend=backend.name, prove_ms=job.generation_time_ms or 0,
                                 details=dict(job.details or {}))
        ok = backend.verify(statement, artifact, policy.min_security_bits).valid
    except (ProverError, ValueError) as exc:
        log.warning("stored proof of job %s cannot be checked: %s", job.id, public_text(str(exc)))
        return False
    if not ok:
        log.warning("stored proof of job %s no longer verifies; proving again", job.id)
    return ok


def _json_safe(details: dict) -> dict:
    """The backend's details as JSON (numbers, strings, lists, dicts); anything else as its text."""
    return json.loads(json.dumps(details, default=str))
