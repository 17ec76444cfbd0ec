"""SQLAlchemy 2 typed models of the app's records (schema ``zkp``).

Every table that a Dagster partition writes has a natural unique key
(protocol/pool/hour, hour/protocol/model version, ...) so that writes are
upserts: re-materializing a partition replaces its rows and can never
duplicate a decision.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from zk_pipeline.db.urls import APP_SCHEMA


class Base(DeclarativeBase):
    metadata = MetaData(
        schema=APP_SCHEMA,
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        },
    )
    type_annotation_map = {dict[str, Any]: JSONB, datetime: DateTime(timezone=True)}


class ProtocolMetric(Base):
    """One pool's snapshot for one hour, in fixed-point integers (price e8, USD e6)."""

    __tablename__ = "protocol_metrics"
    __table_args__ = (
        UniqueConstraint("protocol", "pool", "hour"),
        Index(None, "hour"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    protocol: Mapped[str] = mapped_column(String(32))
    pool: Mapped[str] = mapped_column(String(128))
    hour: Mapped[datetime]
    price_e8: Mapped[int] = mapped_column(BigInteger)
    tvl_e6: Mapped[int] = mapped_column(BigInteger)
    volume_e6: Mapped[int] = mapped_column(BigInteger)
    fees_e6: Mapped[int] = mapped_column(BigInteger)
    repaired: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str] = mapped_column(String(32))
    ingested_at: Mapped[datetime] = mapped_column(server_default=func.now())


class ModelVersionRecord(Base):
    __tablename__ = "model_versions"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    model_hash: Mapped[str] = mapped_column(String(66), unique=True)
    params: Mapped[dict[str, Any]]
    canonical_definition: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text)
    is_current: Mapped[bool] = mapped_column(Boolean, default=False)
    registered_at: Mapped[datetime] = mapped_column(server_default=func.now())
    #: ``code`` (``risk/registry.py``, mirrored at sync) or ``registered`` (``POST /model-registry/register``,
    #: ``zkp model register``; immutable: a trigger refuses any change, migration 0008).
    origin: Mapped[str] = mapped_column(String(16), server_default="code")


class RiskFeature(Base):
    __tablename__ = "risk_features"
    __table_args__ = (UniqueConstraint("hour", "protocol", "model_version"), Index(None, "hour"))

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hour: Mapped[datetime]
    protocol: Mapped[str] = mapped_column(String(32))
    model_version: Mapped[int] = mapped_column(ForeignKey("model_versions.version"))
    n_observations: Mapped[int]
    volatility_annualized_bps: Mapped[int] = mapped_column(BigInteger)
    volatility_bps: Mapped[int]
    utilization_bps: Mapped[int]
    apy_bps: Mapped[int] = mapped_column(BigInteger)
    liquidity_tier: Mapped[int]
    age_days: Mapped[int]
    tvl_e6: Mapped[int] = mapped_column(BigInteger)
    volume_24h_e6: Mapped[int] = mapped_column(BigInteger)
    fees_24h_e6: Mapped[int] = mapped_column(BigInteger)
    computed_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


class RiskScore(Base):
    __tablename__ = "risk_scores"
    __table_args__ = (UniqueConstraint("hour", "protocol", "model_version"), Index(None, "hour"))

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hour: Mapped[datetime]
    protocol: Mapped[str] = mapped_column(String(32))
    model_version: Mapped[int] = mapped_column(ForeignKey("model_versions.version"))
    risk: Mapped[int]
    components: Mapped[dict[str, Any]]
    computed_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


class AllocationProposal(Base):
    """The model's split for one hour, with the full statement it was computed from."""

    __tablename__ = "allocation_proposals"
    __table_args__ = (UniqueConstraint("hour", "model_version"), Index(None, "hour"))

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hour: Mapped[datetime]
    model_version: Mapped[int] = mapped_column(ForeignKey("model_versions.version"))
    model_hash: Mapped[str] = mapped_column(String(66))
    jediswap_pct: Mapped[int]
    ekubo_pct: Mapped[int]
    jediswap_risk: Mapped[int]
    ekubo_risk: Mapped[int]
    statement_hash: Mapped[str] = mapped_column(String(64))
    statement: Mapped[dict[str, Any]]
    computed_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


class AllocationDecision(Base):
    """A recorded decision (fields of the seed system's AllocationDecision).

    ``decision_id`` is derived from the hour and the model hash, so the same
    decision always gets the same id. ``transaction_hash``/``block_number``
    stay empty until execution is enabled. ``proof_job_id`` names the verified
    proof job the decision rests on (a foreign key: no decision without a job).
    """

    __tablename__ = "allocation_decisions"
    # (timestamp, decision_id) is the list's order: its pages are read from this index by keyset
    # (services/decisions.py); it also serves every filter on timestamp alone.
    __table_args__ = (UniqueConstraint("timestamp", "model_version"), Index(None, "timestamp", "decision_id"))

    decision_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    jediswap_pct: Mapped[int]
    ekubo_pct: Mapped[int]
    jediswap_risk: Mapped[int]
    ekubo_risk: Mapped[int]
    transaction_hash: Mapped[str | None] = mapped_column(String(66))
    block_number: Mapped[int | None] = mapped_column(BigInteger)
    timestamp: Mapped[datetime]
    proof_job_id: Mapped[str | None] = mapped_column(ForeignKey("proof_jobs.id"))
    model_version: Mapped[int] = mapped_column(ForeignKey("model_versions.version"))
    model_hash: Mapped[str] = mapped_column(String(66))
    proposal_id: Mapped[int] = mapped_column(ForeignKey("allocation_proposals.id"))
    recorded_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


class ProofStatus(str, enum.Enum):
    """Life of a proof job. ``succeeded`` = a proof exists; ``verified`` = it also verified."""

    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    verified = "verified"
    rejected = "rejected"
    #: The process proving it died (run worker killed, database gone); the reason is in ``last_error``.
    interrupted = "interrupted"


class ProofJob(Base):
    """One request to prove one statement (the seed system's ProofJob, plus bookkeeping).

    A job is identified by a random id but found by ``statement_hash``: an
    identical statement reuses its verified job, a changed one gets a new job
    and the old one stays for audit.
    """

    __tablename__ = "proof_jobs"
    __table_args__ = (
        Index(None, "statement_hash"), Index(None, "hour"), Index(None, "status"),
        # One open request per statement, whichever API process takes it: a second one joins the first.
        Index("uq_proof_jobs_open_api_request", "statement_hash", unique=True,
              postgresql_where=text("origin = 'api' AND status IN ('queued', 'running')")),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    status: Mapped[ProofStatus] = mapped_column(Enum(ProofStatus, name="proof_status", schema=APP_SCHEMA))
    statement_hash: Mapped[str] = mapped_column(String(64))
    statement: Mapped[dict[str, Any]]
    hour: Mapped[datetime | None]
    model_version: Mapped[int | None]
    model_hash: Mapped[str | None] = mapped_column(String(66))
    #: Who asked for the proof: ``pipeline`` (Dagster's allocation_proof) or ``api`` (POST /proofs/generate,
    #: recorded ``queued``; ``proof_requests_sensor`` turns it into one run of ``proof_request_job``).
    origin: Mapped[str] = mapped_column(String(16), server_default="pipeline")
    #: The Dagster run proving it: a job whose run dies is closed as ``interrupted``.
    run_id: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str | None] = mapped_column(String(32))  # builtin / stone / atlantic / command
    proof_hash: Mapped[str | None] = mapped_column(String(64))  # sha256 of the proof bytes → proof_blobs
    program_hash: Mapped[str | None] = mapped_column(String(66))
    output_hash: Mapped[str | None] = mapped_column(String(66))
    fact_hash: Mapped[str | None] = mapped_column(String(66))
    l2_fact_hash: Mapped[str | None] = mapped_column(String(66))
    l2_verified_at: Mapped[datetime | None]
    generated_at: Mapped[datetime | None]
    proof_size: Mapped[int | None]
    generation_time_ms: Mapped[int | None]
    verification_time_ms: Mapped[int | None]
    security_bits: Mapped[int | None]
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    #: What the backend reported beside the bytes (Stone layout and steps, Atlantic query id and its
    #: Integrity fact...): needed to re-verify a remote proof later. Never holds credentials.
    details: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


class ProofAttempt(Base):
    """One try of one backend; failures stay on record with their error."""

    __tablename__ = "proof_attempts"
    __table_args__ = (Index(None, "job_id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("proof_jobs.id", ondelete="CASCADE"))
    backend: Mapped[str] = mapped_column(String(32))
    attempt: Mapped[int]
    outcome: Mapped[str] = mapped_column(String(16))  # running / succeeded / failed / timeout / unavailable / rejected / interrupted
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(server_default=func.now())
    finished_at: Mapped[datetime | None]
    duration_ms: Mapped[int | None]


class ProofBlob(Base):
    """Proof bytes, content-addressed by SHA-256 (one copy however many jobs share it)."""

    __tablename__ = "proof_blobs"

    proof_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class VerifiedFact(Base):
    """A fact some verifier accepted: locally (``local``) or in Integrity's registry (``integrity``)."""

    __tablename__ = "verified_facts"
    __table_args__ = (UniqueConstraint("fact_hash", "verifier"), Index(None, "proof_job_id"))

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    fact_hash: Mapped[str] = mapped_column(String(66))
    program_hash: Mapped[str] = mapped_column(String(66))
    output_hash: Mapped[str] = mapped_column(String(66))
    verification_hash: Mapped[str | None] = mapped_column(String(66))
    security_bits: Mapped[int]
    verifier: Mapped[str] = mapped_column(String(16))
    proof_job_id: Mapped[str | None] = mapped_column(ForeignKey("proof_jobs.id"))
    verified_at: Mapped[datetime] = mapped_column(server_default=func.now())


class RunRequestState(str, enum.Enum):
    """``pending``: recorded by the API, no Dagster run yet; ``launched``: ``run_id`` names its run."""

    pending = "pending"
    launched = "launched"


class OrchestrationRequest(Base):
    """A request to run ``allocation_job`` for one hour (``POST /risk-engine/orchestrate-allocation``).

    The API only records it; ``run_requests_sensor`` turns it into a Dagster run (run key
    ``request-<id>``, so one request is one run however often the sensor ticks). At most one
    request per hour is pending (the partial unique index): a second request for the same hour,
    from any API process, joins the first.
    """

    __tablename__ = "orchestration_requests"
    __table_args__ = (
        Index("uq_orchestration_requests_pending_hour", "partition_key", unique=True,
              postgresql_where=text("state = 'pending'")),
        Index(None, "run_id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    partition_key: Mapped[str] = mapped_column(String(16))
    state: Mapped[RunRequestState] = mapped_column(
        Enum(RunRequestState, name="run_request_state", schema=APP_SCHEMA), default=RunRequestState.pending)
    run_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    launched_at: Mapped[datetime | None]


class ExecutionStatus(str, enum.Enum):
    """Life of a decision's transaction on Starknet.

    ``prepared``: a dry run built, signed and simulated it, nothing was sent; ``submitted``: its hash is
    recorded and it was (or may have been) sent, its receipt not seen yet; ``accepted`` / ``reverted``:
    the receipt says so; ``failed``: no transaction of this attempt can be on chain (refused by the
    node before inclusion, or its nonce was taken by another one).
    """

    prepared = "prepared"
    submitted = "submitted"
    accepted = "accepted"
    reverted = "reverted"
    failed = "failed"


class Execution(Base):
    """The one transaction that carries a decision to Starknet (``zk_pipeline/execution``).

    One row per decision (its primary key), so a decision is executed at most once. The transaction
    (hash, nonce, calldata, resource bounds, signature) is recorded before it is sent: after a crash
    its receipt is looked up, and the same signed transaction re-sent, before anything is signed again.
    Never holds the signing key.
    """

    __tablename__ = "executions"
    __table_args__ = (Index(None, "status"), Index(None, "transaction_hash", unique=True))

    decision_id: Mapped[str] = mapped_column(ForeignKey("allocation_decisions.decision_id"), primary_key=True)
    status: Mapped[ExecutionStatus] = mapped_column(
        Enum(ExecutionStatus, name="execution_status", schema=APP_SCHEMA))
    target: Mapped[str] = mapped_column(String(16))  # risk_engine / router
    contract_address: Mapped[str] = mapped_column(String(66))
    entry_point: Mapped[str] = mapped_column(String(64))
    sender_address: Mapped[str] = mapped_column(String(66))
    public_key: Mapped[str] = mapped_column(String(66))
    chain_id: Mapped[str | None] = mapped_column(String(66))
    nonce: Mapped[int | None] = mapped_column(BigInteger)
    #: The account's ``__execute__`` calldata, hex felts (what the transaction hash commits to).
    calldata: Mapped[list[str] | None] = mapped_column(JSONB)
    resource_bounds: Mapped[dict[str, Any] | None]
    signature: Mapped[list[str] | None] = mapped_column(JSONB)
    transaction_hash: Mapped[str | None] = mapped_column(String(66))
    block_number: Mapped[int | None] = mapped_column(BigInteger)
    #: ``{"amount": "0x…", "unit": "FRI"}`` from the receipt.
    actual_fee: Mapped[dict[str, Any] | None]
    #: Why it failed or reverted (the node's revert reason), or what is still pending.
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())
    submitted_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class ExecutionRequestState(str, enum.Enum):
    """``pending``: recorded, no run yet; ``launched``: ``run_id`` executes it; ``finished``: its run recorded
    an outcome in ``executions``; ``failed``: its run ended without one (refused, or no node answered)."""

    pending = "pending"
    launched = "launched"
    finished = "finished"
    failed = "failed"


class ExecutionRequest(Base):
    """A request to execute one decision (``POST /risk-engine/execute-allocation``, or recorded by
    ``execution_requests_sensor`` for a new decision when ``ZKP_EXECUTION_AUTO`` is on).

    The API only records it; the sensor turns it into one run of ``execution_job`` (run key
    ``execution-<id>``). At most one request per decision is pending (the partial unique index), so
    a second request, from any API process, joins the first. What the run did is in ``executions``.
    """

    __tablename__ = "execution_requests"
    __table_args__ = (
        Index("uq_execution_requests_pending_decision", "decision_id", unique=True,
              postgresql_where=text("state = 'pending'")),
        Index(None, "decision_id", "created_at"),
        Index(None, "state"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    decision_id: Mapped[str] = mapped_column(ForeignKey("allocation_decisions.decision_id"))
    #: Send (``True``) or dry-run; sending is asked only where ``ZKP_EXECUTION_SEND`` allows it.
    send: Mapped[bool] = mapped_column(Boolean)
    #: ``api`` (an admin asked) or ``auto`` (``ZKP_EXECUTION_AUTO``).
    origin: Mapped[str] = mapped_column(String(16))
    state: Mapped[ExecutionRequestState] = mapped_column(
        Enum(ExecutionRequestState, name="execution_request_state", schema=APP_SCHEMA),
        default=ExecutionRequestState.pending)
    run_id: Mapped[str | None] = mapped_column(String(64))
    #: Why its run ended without an outcome (the refusal or the failure), secrets removed.
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    launched_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class HourFailure(Base):
    """An hour of a ranged run that an asset could not compute, with why (``assets/hour_ranges.py``).

    A run over many hours (a backfill) keeps going past a bad hour: the asset that failed on it
    records it here, the later assets of the same run leave it alone, and the run's last asset
    names it in its failure. One row per (run, hour): the first asset that failed it.
    """

    __tablename__ = "hour_failures"

    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    hour: Mapped[datetime] = mapped_column(primary_key=True)
    asset: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(server_default=func.now())
