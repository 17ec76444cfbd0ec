"""Response models: the public contract, decoupled from the ORM tables."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

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
    total: int = Field(description="Number of decisions matching the filter, ignoring limit/offset.")
    limit: int
    offset: int


class ModelVersion(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    version: int
    model_hash: ModelHash
    params: dict[str, Any] = Field(description="The parameters the hash commits to (canonical JSON form).")
    description: str
    is_current: bool = Field(description="Whether the pipeline last synced this as the current version.")
    registered_at: UtcDatetime


class Health(BaseModel):
    status: str = Field(examples=["ok"])
    database: str | None = Field(description="The database URL with any password redacted; null if not configured.")
    reason: str | None = None
