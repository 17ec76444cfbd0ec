"""Response models: the public contract, decoupled from the ORM tables."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool

# PostgreSQL returns timestamptz in the session's time zone; the API always speaks UTC.
UtcDatetime = Annotated[datetime, AfterValidator(lambda d: d.astimezone(timezone.utc))]

ModelHash = Annotated[str, Field(pattern=r"^0x[0-9a-f]{64}$", description="Model hash: a felt252 as 0x + 64 hex digits.")]


class Decision(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    decision_id: str = Field(description="UUID derived from the hour and the model hash (stable across re-runs).")
    jediswap_pct: int = Field(description="JediSwap share in basis points (10 000 = 100%).")
    ekubo_pct: int = Field(description="Ekubo share in basis points; jediswap_pct + ekubo_pct = 10 000.")
    jediswap_risk: int = Field(description="JediSwap risk score (5..95 for model v1).")
    ekubo_risk: int = Field(description="Ekubo risk score (5..95 for model v1).")
    transaction_hash: str | None = Field(description="Execution transaction; null until execution is enabled.")
    block_number: int | None = Field(description="Block of the execution transaction, if any.")
    timestamp: UtcDatetime = Field(description="The hour the decision is for (UTC).")
    proof_job_id: str | None = Field(description="Proof job; null until proving is enabled.")
    model_version: int
    model_hash: ModelHash


class DecisionPage(BaseModel):
    items: list[Decision]
    total: int | None = Field(description="Number of decisions matching the filter, ignoring limit/offset/cursor; "
                                          "null when not counted (see `include_total`).")
    limit: int
    offset: int
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


class ModelVersion(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    version: int
    model_hash: ModelHash
    params: dict[str, Any] = Field(description="The parameters the hash commits to (canonical JSON form).")
    description: str
    is_current: bool = Field(description="Whether the pipeline last synced this as the current version.")
    registered_at: UtcDatetime
    origin: str = Field(description="`code` (defined in the code) or `registered` (through "
                                    "`POST /model-registry/register`: stored and immutable; the pipeline runs it "
                                    "where `ZKP_MODEL_VERSION` pins it).")


class ModelDefinition(BaseModel):
    """A model to register: every parameter, and what it is for."""

    model_config = ConfigDict(extra="forbid")  # the version is the registry's to give

    params: dict[str, Any] = Field(description="Every model parameter (the keys of `/model-registry/current`'s "
                                               "`params`), each an integer in its range, as statements carry them.")
    description: str = Field(description="What the version changes and why (1–2000 characters).")


class Health(BaseModel):
    status: str = Field(examples=["ok"])
    database: str = Field(description="`ok`, `unreachable` or `not configured`: whether the database answers, "
                                      "never where it is.", examples=["ok"])
    reason: str | None = None


# --- Proofs, verification and orchestration -------------------------------------------------------

ProofJobStatus = Annotated[str, Field(
    description="queued → running → verified (a proof exists and verified), or failed / rejected "
                "(a proof was produced but did not verify). `succeeded` is not used by the API's jobs.",
    examples=["verified"])]
Hex64 = Annotated[str | None, Field(description="SHA-256 as 64 lowercase hex digits.")]
Felt = Annotated[str | None, Field(description="A felt252 in lowercase hex with a 0x prefix.")]


class ProofJobAccepted(BaseModel):
    proof_job_id: str = Field(description="UUID of the proof job.")
    status: ProofJobStatus
    status_url: str = Field(description="Path of `GET /api/v1/proofs/{proof_job_id}`, to poll.")
    reused: bool = Field(description="True when an existing job answers this request: a verified job for the same "
                                     "statement hash (HTTP 200) or one already queued/running in this process (202).")
    statement_hash: str = Field(description="SHA-256 of the canonical statement JSON, with its outputs.")


class ProofTimings(BaseModel):
    generation_time_ms: int | None = Field(description="Prover time of the successful attempt.")
    verification_time_ms: int | None = Field(description="Local verification time of the stored proof.")


class ProofHashes(BaseModel):
    statement_hash: Hex64
    proof_hash: Hex64 = Field(description="SHA-256 of the proof bytes (also the download's ETag).")
    program_hash: Felt
    output_hash: Felt
    fact_hash: Felt = Field(description="poseidon(program_hash, output_hash), Integrity's fact.")
    l2_fact_hash: Felt = Field(description="Fact registered on Starknet; null until on-chain registration exists.")
    l2_verified_at: UtcDatetime | None


class ProofAttemptInfo(BaseModel):
    backend: str = Field(examples=["builtin"])
    attempt: int = Field(description="1-based, counted over the whole job.")
    outcome: str = Field(description="running / succeeded / failed / timeout / unavailable / rejected")
    error: str | None = Field(description="Why the attempt failed (prover stderr tail), secrets removed.")
    started_at: UtcDatetime
    finished_at: UtcDatetime | None
    duration_ms: int | None


class ProofJobInfo(BaseModel):
    proof_job_id: str
    status: ProofJobStatus
    origin: str = Field(description="Who asked for the proof: `pipeline` (a Dagster run) or `api`.")
    source: str | None = Field(description="Backend that produced the proof: builtin / command / stone / atlantic.")
    hour: UtcDatetime | None = Field(description="The hour the statement is for.")
    model_version: int | None
    model_hash: Felt
    proof_size: int | None = Field(description="Proof size in bytes.")
    security_bits: int | None = Field(description="Conjectured security of the stored proof.")
    timings: ProofTimings
    hashes: ProofHashes
    attempts: list[ProofAttemptInfo]
    last_error: str | None = Field(description="The last failure, secrets removed; null once verified.")
    proof_url: str | None = Field(description="Path to download the proof bytes; null until a proof exists.")
    statement_url: str = Field(description="Path to download the statement JSON the job proves.")
    generated_at: UtcDatetime | None
    created_at: UtcDatetime
    updated_at: UtcDatetime


class VerifyResult(BaseModel):
    valid: bool
    reason: str = Field(description="`ok`, or why the proof does not verify against the statement.")
    security_bits: int = Field(description="Conjectured security of the proof's parameters (0 if unreadable).")
    verify_ms: float
    proof_bytes: int
    proof_hash: str = Field(description="SHA-256 of the uploaded proof bytes.")
    statement_hash: str = Field(description="SHA-256 of the uploaded statement in canonical form.")
    fact_hash: str | None = Field(description="Integrity fact hash of the statement (only when valid).")
    distinct_query_cosets: int = Field(description="First-layer FRI cosets the proof's queries open; "
                                                   "`security_bits` is computed from them (0 if not checked).")
    params: dict[str, int] = Field(description="The proof's parameter set (empty if it does not decode).")
    model_hash: str = Field(description="Hash of the statement's model parameters (0x + 64 hex digits).")
    model_registered: bool | None = Field(
        description="Whether `model_hash` is the registered hash of the claimed model version: false means the "
                    "version label does not describe these parameters; null means the version is not registered "
                    "here. A valid proof with false/null proves the parameters, not the label.")
    model_registration: str = Field(description="The reason for `model_registered`.")


class VerifierRecord(BaseModel):
    verifier: str = Field(description="`local` (this deployment's verifier) or `integrity` (on-chain).")
    verification_hash: str | None
    security_bits: int
    verified_at: UtcDatetime
    proof_job_id: str | None
    program_hash: str
    output_hash: str


class VerificationStatus(BaseModel):
    proof_job_id: str
    status: ProofJobStatus
    verified: bool = Field(description="True when the job's proof verified (status `verified`).")
    fact_hash: Felt
    security_bits: int | None
    verifiers: list[VerifierRecord] = Field(description="Verifications recorded for the job's fact hash.")


class FactLookup(BaseModel):
    fact_hash: str = Field(description="The fact hash as records store it: 0x + lowercase hex, no leading zeros.")
    records: list[VerifierRecord]
    onchain: dict[str, Any] | None = Field(
        description="Integrity's FactRegistry look-up (`registry`, `network`, `block_number`, `verifications` with "
                    "`security_bits`, config and `consistent`), or `{error}`; null when no Starknet node is configured.")
    note: str


class OrchestrateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelled key must not launch a run for the default hour

    partition_key: str | None = Field(
        default=None, description="Hour to run, like `2026-11-20-10:00` (UTC); default: the latest complete hour.",
        examples=["2026-11-20-10:00"])


class OrchestrationLaunch(BaseModel):
    run_id: str | None = Field(description="Dagster run id; null until Dagster has started the run of a new request.")
    request_id: str | None = Field(description="The recorded request; null when an existing run (started by the "
                                               "schedule, a backfill or the UI) is returned.")
    partition_key: str = Field(examples=["2026-11-20-10:00"])
    mode: str = Field(description="Always `dagster`: Dagster starts and runs every run; the API only records.")
    already_running: bool = Field(description="The hour already had a queued/running run or a pending request; "
                                              "it is returned (HTTP 200).")
    status_url: str = Field(description="Path of `GET /api/v1/risk-engine/orchestration/{id}`, to poll.")
    note: str | None = None


class OrchestrationStatus(BaseModel):
    run_id: str | None = Field(description="Null while the request waits for Dagster to start its run.")
    request_id: str | None
    mode: str
    status: str = Field(description="REQUESTED (recorded, no run yet), or the Dagster run status: QUEUED, STARTING, "
                                    "STARTED, SUCCESS, FAILURE, CANCELED, ...")
    finished: bool
    partition_key: str | None
    started_at: UtcDatetime | None
    ended_at: UtcDatetime | None
    failed_step: str | None = Field(description="The first step that failed, for a failed run.")
    errors: list[str] = Field(description="Why the run failed (failed steps, then the run), secrets removed.")


# --- Execution on Starknet -------------------------------------------------------------------------


class ExecuteAllocationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelled `send` must not become a default

    decision_id: uuid.UUID = Field(description="The decision to execute (any case).")
    send: StrictBool | None = Field(default=None, description=(
        "Send the transaction (`true`) or dry-run it (`false`: built, signed, simulated, recorded `prepared`). "
        "Default: `ZKP_EXECUTION_SEND`. `true` is refused (409) where `ZKP_EXECUTION_SEND` is off."))


class ExecutionRequestInfo(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    request_id: str = Field(validation_alias="id")
    state: str = Field(description="`pending` (recorded, no run yet), `launched` (`run_id` executes it), "
                                   "`finished` (the outcome is the execution's status), `failed` (see `error`).")
    send: bool = Field(description="Whether the run sends, or dry-runs.")
    origin: str = Field(description="`api` (an admin asked) or `auto` (`ZKP_EXECUTION_AUTO`).")
    run_id: str | None = Field(description="The Dagster run of `execution_job` that executes it.")
    error: str | None = Field(description="Why its run ended without recording a transaction, secrets removed.")
    created_at: UtcDatetime
    launched_at: UtcDatetime | None
    finished_at: UtcDatetime | None


class ExecutionAccepted(BaseModel):
    decision_id: str
    request: ExecutionRequestInfo
    already_requested: bool = Field(description="The decision had an open request (pending, or its run still "
                                                "going): it is returned, HTTP 200; nothing new was recorded.")
    status_url: str = Field(description="Path of `GET /api/v1/risk-engine/execution/{decision_id}`, to poll.")
    note: str | None = None


class ExecutionState(BaseModel):
    decision_id: str
    status: str = Field(description="`requested` (a request waits for or is in its run), `refused` (the latest "
                                    "request's run recorded no transaction: see `request.error`), or the "
                                    "execution's: `prepared` (dry run), `submitted`, `accepted`, `reverted`, "
                                    "`failed`.")
    executed: bool = Field(description="True once the transaction is accepted on chain.")
    transaction_hash: str | None
    nonce: int | None
    block_number: int | None
    chain_id: str | None
    sender_address: str | None
    target: str | None = Field(description="`risk_engine` or `router`.")
    contract_address: str | None
    actual_fee: dict[str, Any] | None = Field(description="`{amount, unit}` from the receipt.")
    error: str | None = Field(description="Why it failed or reverted, the dry run's simulation result, "
                                          "or what is pending.")
    created_at: UtcDatetime | None
    updated_at: UtcDatetime | None
    submitted_at: UtcDatetime | None
    finished_at: UtcDatetime | None
    request: ExecutionRequestInfo | None = Field(description="The latest execution request for the decision.")
