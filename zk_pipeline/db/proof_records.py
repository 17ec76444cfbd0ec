"""Proof jobs, attempts, blobs and verified facts: the records behind every proof."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from zk_pipeline.db.models import ProofAttempt, ProofBlob, ProofJob, ProofStatus, VerifiedFact
from zk_pipeline.felts import felt_hex
from zk_pipeline.risk.statement import Statement


def now() -> datetime:
    return datetime.now(timezone.utc)


def find_verified_job(session: Session, statement_hash: str) -> ProofJob | None:
    return session.scalar(select(ProofJob).where(
        ProofJob.statement_hash == statement_hash, ProofJob.status == ProofStatus.verified,
    ).order_by(ProofJob.created_at.desc()).limit(1))


def create_job(session: Session, statement: Statement, hour: datetime | None = None,
               origin: str = "pipeline", run_id: str | None = None) -> ProofJob:
    job = ProofJob(
        id=str(uuid.uuid4()), status=ProofStatus.queued, statement_hash=statement.statement_hash(),
        statement=statement.to_dict(), hour=hour, model_version=statement.version,
        model_hash=felt_hex(statement.model_hash), attempts=0, origin=origin, run_id=run_id,
    )
    session.add(job)
    session.flush()
    return job


def get_job(session: Session, job_id: str) -> ProofJob | None:
    return session.get(ProofJob, job_id)


def start_attempt(session: Session, job_id: str, backend: str) -> ProofAttempt:
    job = session.get(ProofJob, job_id, with_for_update=True)
    job.attempts += 1
    job.status = ProofStatus.running
    attempt = ProofAttempt(job_id=job_id, backend=backend, attempt=job.attempts, outcome="running")
    session.add(attempt)
    session.flush()
    return attempt


def finish_attempt(session: Session, attempt_id: int, outcome: str, error: str | None = None) -> None:
    attempt = session.get(ProofAttempt, attempt_id)
    attempt.outcome = outcome
    attempt.error = error
    attempt.finished_at = now()
    attempt.duration_ms = int((attempt.finished_at - attempt.started_at).total_seconds() * 1000)
    if error:
        session.get(ProofJob, attempt.job_id).last_error = error


#: A job in one of these states has a process working on it (or had, until it died).
UNFINISHED = (ProofStatus.queued, ProofStatus.running, ProofStatus.succeeded)


def interrupt(session: Session, reason: str, *, run_id: str | None = None, job_id: str | None = None) -> list[str]:
    """Close the unfinished jobs of a dead run (or one job) as ``interrupted``, and their open attempts.

    Returns the ids closed. A job that finished meanwhile is left alone, so calling this twice, or
    for a run that ended cleanly, changes nothing.
    """
    if (run_id is None) == (job_id is None):
        raise ValueError("give exactly one of run_id and job_id")
    q = select(ProofJob).where(ProofJob.status.in_(UNFINISHED)).with_for_update()
    q = q.where(ProofJob.run_id == run_id) if run_id is not None else q.where(ProofJob.id == job_id)
    closed = []
    for job in session.scalars(q):
        job.status, job.last_error = ProofStatus.interrupted, reason
        for attempt in session.scalars(select(ProofAttempt).where(
                ProofAttempt.job_id == job.id, ProofAttempt.outcome == "running")):
            attempt.outcome, attempt.error, attempt.finished_at = "interrupted", reason, now()
            attempt.duration_ms = int((attempt.finished_at - attempt.started_at).total_seconds() * 1000)
        closed.append(job.id)
    return closed


def attempts_of(session: Session, job_id: str) -> list[ProofAttempt]:
    return list(session.scalars(select(ProofAttempt).where(ProofAttempt.job_id == job_id).order_by(ProofAttempt.id)))


def store_blob(session: Session, data: bytes) -> str:
    """Content-addressed write; rewriting the same key also heals a damaged stored copy."""
    digest = hashlib.sha256(data).hexdigest()
    stmt = insert(ProofBlob).values(proof_hash=digest, data=data, size=len(data))
    session.execute(stmt.on_conflict_do_update(index_elements=["proof_hash"],
                                               set_={"data": stmt.excluded.data, "size": stmt.excluded.size}))
    return digest


def load_blob(session: Session, proof_hash: str) -> bytes | None:
    blob = session.get(ProofBlob, proof_hash)
    return None if blob is None else blob.data


def record_fact(session: Session, job_id: str, *, fact_hash: str, program_hash: str, output_hash: str,
                verification_hash: str | None, security_bits: int, verifier: str) -> None:
    values = dict(fact_hash=fact_hash, program_hash=program_hash, output_hash=output_hash,
                  verification_hash=verification_hash, security_bits=security_bits, verifier=verifier,
                  proof_job_id=job_id, verified_at=now())
    stmt = insert(VerifiedFact).values(**values)
    session.execute(stmt.on_conflict_do_update(
        index_elements=["fact_hash", "verifier"],
        set_={k: stmt.excluded[k] for k in values if k not in ("fact_hash", "verifier")}))


def facts_by_hash(session: Session, fact_hash: str) -> list[VerifiedFact]:
    return list(session.scalars(select(VerifiedFact).where(VerifiedFact.fact_hash == fact_hash)))
