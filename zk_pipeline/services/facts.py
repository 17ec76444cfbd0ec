"""Verification records of facts, and Integrity's FactRegistry read live when a node is configured.

Records come from ``verified_facts``: one row per fact hash and verifier.
``local`` rows are written when this deployment's verifier accepted a proof,
``integrity`` rows when a service (Atlantic) reported Integrity's verification,
``onchain`` rows when the pipeline read the fact in Integrity's FactRegistry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from zk_pipeline.db import proof_records
from zk_pipeline.db.models import ProofJob, VerifiedFact
from zk_pipeline.felts import felt_hex_minimal
from zk_pipeline.services.errors import InvalidRequest, NotFound, UpstreamFailed
from zk_pipeline.stark.field import P

NO_NODE_NOTE = ("Local records only: no Starknet node is configured (ZKP_INTEGRITY_RPC_URL, "
                "ZKP_INTEGRITY_NETWORK), so Integrity's FactRegistry was not read and `onchain` is null.")
ONCHAIN_NOTE = ("`onchain` is what Integrity's FactRegistry holds for the fact at the block read now; "
                "a verification counts when `consistent` (its hash is Integrity's for this fact).")


@dataclass(frozen=True)
class FactAnswer:
    fact_hash: str  # as records store it: hex(), lowercase, no leading zeros
    records: list[VerifiedFact]
    onchain: dict[str, Any] | None
    note: str


def records_of(session: Session, fact_hash: str) -> list[VerifiedFact]:
    return sorted(proof_records.facts_by_hash(session, fact_hash), key=lambda f: f.verifier)


def job_verification(session: Session, job_id: str) -> tuple[ProofJob, list[VerifiedFact]]:
    job = proof_records.get_job(session, job_id)
    if job is None:
        raise NotFound(f"proof job {job_id} not found")
    return job, (records_of(session, job.fact_hash) if job.fact_hash else [])


def lookup(session: Session, registry, fact_hash: str) -> FactAnswer:
    """What is recorded here for ``fact_hash`` and, with ``registry`` (None: no node), what Integrity holds."""
    from zk_pipeline.facts.integrity import IntegrityError

    value = int(fact_hash, 16)
    if value >= P:
        raise InvalidRequest(f"{fact_hash} is not a felt252: it is not below the Stark prime")
    normalised = felt_hex_minimal(value)
    records = records_of(session, normalised)
    if registry is None:
        if not records:
            raise NotFound(f"no verification of fact {normalised} is recorded here "
                           "(and no Starknet node is configured for an on-chain look-up)")
        return FactAnswer(normalised, records, None, NO_NODE_NOTE)
    try:
        onchain = registry.lookup(value).to_json()
    except IntegrityError as exc:
        if not records:
            raise UpstreamFailed(str(exc)) from None
        return FactAnswer(normalised, records, {"error": str(exc)}, ONCHAIN_NOTE)
    if not records and not onchain["verifications"]:
        raise NotFound(f"fact {normalised}: no record here, and Integrity's FactRegistry holds no verification "
                       f"of it (block {onchain['block_number']})")
    return FactAnswer(normalised, records, onchain, ONCHAIN_NOTE)
