"""Proof requests: the API records a queued job; one Dagster run of ``proof_request_job`` proves it.

The API process never proves. ``submit`` returns a verified job for the same
statement when there is one, joins an open (queued or running) request for it
when there is one, and otherwise inserts a queued job of origin ``api``. A
partial unique index (one open API job per statement hash) makes the insert
safe across API processes without locks of their own: the loser of a race
reads the winner's job. ``proof_requests_sensor`` then turns each queued job
into exactly one run (its run key is the job id), and ``take_up`` is the first
thing that run does.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from zk_pipeline import hours
from zk_pipeline.db import proof_records
from zk_pipeline.db.models import ProofAttempt, ProofJob, ProofStatus
from zk_pipeline.jsonio import JsonInputError, parse_json
from zk_pipeline.felts import felt_hex
from zk_pipeline.risk.statement import Statement, StatementError
from zk_pipeline.services.errors import Conflict, InvalidRequest, NotFound

#: ``proof_jobs.origin`` of the jobs the API records.
API_ORIGIN = "api"
OPEN = (ProofStatus.queued, ProofStatus.running)
#: A run that takes up a job another run left ``running`` closes that run's attempt with this.
SUPERSEDED = "interrupted: the run proving it ended; a new run took the job up"


@dataclass(frozen=True)
class Submitted:
    job: ProofJob
    #: True: an existing job is returned (verified, or still open); nothing new was recorded.
    reused: bool

    @property
    def finished(self) -> bool:
        return self.job.status == ProofStatus.verified


def open_api_job(session: Session, statement_hash: str) -> ProofJob | None:
    return session.scalar(select(ProofJob).where(
        ProofJob.statement_hash == statement_hash, ProofJob.origin == API_ORIGIN, ProofJob.status.in_(OPEN)))


def submit(session: Session, statement: Statement, hour: datetime | None) -> Submitted:
    """The job that answers this request (see the module docstring); commits nothing itself."""
    statement_hash = statement.statement_hash()
    verified = proof_records.find_verified_job(session, statement_hash)
    if verified is not None:
        return Submitted(verified, reused=True)
    existing = open_api_job(session, statement_hash)
    if existing is not None:
        return Submitted(existing, reused=True)
    job_id = str(uuid.uuid4())
    inserted = session.scalar(
        insert(ProofJob).values(
            id=job_id, status=ProofStatus.queued, statement_hash=statement_hash, statement=statement.to_dict(),
            hour=hour, model_version=statement.version, model_hash=felt_hex(statement.model_hash), attempts=0,
            origin=API_ORIGIN)
        .on_conflict_do_nothing(index_elements=["statement_hash"],
                                index_where=(ProofJob.origin == API_ORIGIN) & ProofJob.status.in_(OPEN))
        .returning(ProofJob.id))
    if inserted is None:  # another API process recorded the same statement a moment ago
        return Submitted(open_api_job(session, statement_hash), reused=True)
    return Submitted(session.get(ProofJob, job_id), reused=False)


def queued_requests(session: Session, limit: int = 100) -> list[tuple[str, str | None]]:
    """(job id, run id) of API jobs no run has finished yet, oldest first."""
    rows = session.execute(select(ProofJob.id, ProofJob.run_id).where(
        ProofJob.origin == API_ORIGIN, ProofJob.status == ProofStatus.queued,
    ).order_by(ProofJob.created_at, ProofJob.id).limit(limit))
    return [(job_id, run_id) for job_id, run_id in rows]


def note_run(session: Session, job_id: str, run_id: str) -> None:
    """Record which run proves the job, so the run's death closes it (``interrupted_proofs_sensor``)."""
    job = session.get(ProofJob, job_id, with_for_update=True)
    if job is not None and job.status in OPEN and job.run_id != run_id:
        job.run_id = run_id


def take_up(session: Session, job_id: str, run_id: str) -> ProofJob | None:
    """Claim the job for run ``run_id``; None when there is nothing to prove (gone, or already final).

    A job a dead run left ``running`` or ``interrupted`` (Dagster's run retry of that run) is proved
    again: its open attempt is closed first, and attempt numbers go on.
    """
    job = session.get(ProofJob, job_id, with_for_update=True)
    if job is None or job.status not in (*OPEN, ProofStatus.interrupted, ProofStatus.succeeded):
        return None
    for attempt in session.scalars(select(ProofAttempt).where(
            ProofAttempt.job_id == job_id, ProofAttempt.outcome == "running")):
        attempt.outcome, attempt.error, attempt.finished_at = "interrupted", SUPERSEDED, proof_records.now()
        attempt.duration_ms = int((attempt.finished_at - attempt.started_at).total_seconds() * 1000)
    job.status, job.run_id = ProofStatus.queued, run_id
    return job


def statement_of_request(session: Session, raw: bytes) -> tuple[Statement, datetime | None]:
    """The statement a ``POST /proofs/generate`` body names: a statement, or ``{"partition_key": ...}``."""
    try:
        payload = parse_json(raw)
    except JsonInputError as exc:
        raise InvalidRequest(f"the body is {exc}") from None
    if not isinstance(payload, dict):
        raise InvalidRequest("the body must be a JSON object: a statement or {\"partition_key\": ...}")
    if "partition_key" in payload:
        if set(payload) != {"partition_key"} or not isinstance(payload["partition_key"], str):
            raise InvalidRequest("give either a statement or {\"partition_key\": \"YYYY-MM-DD-HH:00\"} alone, not both")
        return stored_statement(session, payload["partition_key"])
    statement = checked_statement(payload)
    return statement, statement.hour


def stored_statement(session: Session, key: str) -> tuple[Statement, datetime]:
    """The stored allocation proposal's statement of hour ``key`` under the current model."""
    from zk_pipeline.db import repository  # imported here: it pulls in pandas
    from zk_pipeline.risk.registry import InvalidModelVersion, UnknownModelVersion, get_version

    try:
        hour = hours.hour_of(key)
    except hours.PartitionKeyError as exc:
        raise InvalidRequest(str(exc).replace("partition key", "partition_key", 1)) from None
    try:
        model = get_version()
    except UnknownModelVersion as exc:
        raise NotFound(str(exc)) from None
    except InvalidModelVersion as exc:
        raise Conflict(str(exc)) from None
    proposal = repository.get_proposal(session, hour, model.version)
    if proposal is None:
        raise NotFound(f"no allocation proposal for {key} under model version {model.version} yet: "
                       "materialize that partition first (or POST the statement itself)")
    try:
        return Statement.from_dict(proposal.statement), proposal.hour
    except StatementError as exc:
        raise InvalidRequest(f"the stored statement for {key} is invalid: {exc}") from None


def checked_statement(payload: dict) -> Statement:
    """A statement from JSON, its outputs computed when absent and checked against the model when present."""
    try:
        statement = Statement.from_dict(payload)
    except StatementError as exc:
        raise InvalidRequest(f"invalid statement: {exc}") from None
    try:
        computed = statement.evaluate().summary()
    except (ValueError, ArithmeticError) as exc:
        raise InvalidRequest(f"the model cannot evaluate this statement: {exc}") from None
    if statement.outputs is None:
        return statement.with_outputs()
    if statement.outputs != computed:
        raise InvalidRequest("invalid statement: the claimed outputs differ from what the model computes "
                             "(omit 'outputs' to have them computed)")
    return statement


def request_proof(session: Session, raw: bytes) -> Submitted:
    """Parse, check and record a proof request (committed by the caller's session scope)."""
    statement, hour = statement_of_request(session, raw)
    return submit(session, statement, hour)
