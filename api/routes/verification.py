"""Verification records: a proof job's verification state, and look-ups by fact hash.

Records come from ``verified_facts``: one row per fact hash and verifier.
``local`` rows are written when this deployment's verifier accepted a proof,
``integrity`` rows when a service (Atlantic) reported Integrity's verification,
``onchain`` rows when the pipeline read the fact in Integrity's FactRegistry.
With a Starknet node configured (``ZKP_INTEGRITY_RPC_URL`` and
``ZKP_INTEGRITY_NETWORK``), a fact look-up also reads the registry live.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request

from api.deps import SessionDep, SessionReleasingRoute
from api.schemas import FactLookup, VerificationStatus, VerifierRecord
from zk_pipeline.db import proofs as proof_records
from zk_pipeline.db.models import ProofStatus, VerifiedFact
from zk_pipeline.stark.field import P

router = APIRouter(prefix="/verification", tags=["verification"], route_class=SessionReleasingRoute)

#: Starknet's field prime: a felt252 is below it.
STARK_PRIME = P

NO_NODE_NOTE = ("Local records only: no Starknet node is configured (ZKP_INTEGRITY_RPC_URL, "
                "ZKP_INTEGRITY_NETWORK), so Integrity's FactRegistry was not read and `onchain` is null.")
ONCHAIN_NOTE = ("`onchain` is what Integrity's FactRegistry holds for the fact at the block read now; "
                "a verification counts when `consistent` (its hash is Integrity's for this fact).")


def _registry(request: Request):
    from zk_pipeline.facts.integrity import registry_from_env

    explicit = request.app.state.integrity
    if explicit is not None:
        return explicit
    try:
        return registry_from_env()
    except ValueError as exc:  # half a configuration: say so instead of guessing a network
        raise HTTPException(503, detail=f"on-chain look-up misconfigured: {exc}") from None


def _record(f: VerifiedFact) -> VerifierRecord:
    return VerifierRecord(verifier=f.verifier, verification_hash=f.verification_hash, security_bits=f.security_bits,
                          verified_at=f.verified_at, proof_job_id=f.proof_job_id, program_hash=f.program_hash,
                          output_hash=f.output_hash)


def _records(session, fact_hash: str) -> list[VerifierRecord]:
    return [_record(f) for f in sorted(proof_records.facts_by_hash(session, fact_hash), key=lambda f: f.verifier)]


@router.get(
    "/verification-status/{proof_job_id}",
    response_model=VerificationStatus,
    summary="Verification state of a proof job",
    responses={404: {"description": "No proof job with this id."}},
)
def verification_status(
    session: SessionDep,
    proof_job_id: Annotated[uuid.UUID, Path(description="The proof job's UUID (any case).")],
) -> VerificationStatus:
    """`verified` is true once the job's proof verified; `verifiers` lists who accepted its fact hash."""
    job = proof_records.get_job(session, str(proof_job_id))
    if job is None:
        raise HTTPException(404, detail=f"proof job {proof_job_id} not found")
    return VerificationStatus(
        proof_job_id=job.id, status=job.status.value, verified=job.status == ProofStatus.verified,
        fact_hash=job.fact_hash, security_bits=job.security_bits,
        verifiers=_records(session, job.fact_hash) if job.fact_hash else [],
    )


@router.get(
    "/verify-fact-hash/{fact_hash}",
    response_model=FactLookup,
    summary="Verification records of a fact hash, and Integrity's FactRegistry on Starknet",
    responses={
        404: {"description": "Neither a record here nor Integrity's FactRegistry knows the fact."},
        502: {"description": "The registry could not be read and nothing is recorded here."},
        503: {"description": "The on-chain look-up is half configured."},
        422: {"description": "Not 0x followed by 1 to 64 hex digits."},
    },
)
def verify_fact_hash(
    request: Request,
    session: SessionDep,
    fact_hash: Annotated[str, Path(pattern=r"^0[xX][0-9a-fA-F]{1,64}$",
                                   description="A felt252 in hex: 0x and up to 64 hex digits (any case; "
                                               "leading zeros optional).")],
) -> FactLookup:
    """The fact hash is normalised to the form records store (`hex()`: lowercase, no leading zeros).

    404 when neither a record here nor (with a node configured) the registry knows the fact;
    502 when the registry cannot be read and there is no record here to answer with.
    """
    from zk_pipeline.felts import felt_hex_minimal as felt_hex
    from zk_pipeline.facts.integrity import IntegrityError

    value = int(fact_hash, 16)
    if value >= STARK_PRIME:
        raise HTTPException(422, detail=f"{fact_hash} is not a felt252: it is not below the Stark prime")
    normalised = felt_hex(value)
    records = _records(session, normalised)
    registry = _registry(request)
    if registry is None:
        if not records:
            raise HTTPException(404, detail=f"no verification of fact {normalised} is recorded here "
                                            "(and no Starknet node is configured for an on-chain look-up)")
        return FactLookup(fact_hash=normalised, records=records, onchain=None, note=NO_NODE_NOTE)
    try:
        onchain = registry.lookup(value).to_json()
    except IntegrityError as exc:
        if not records:
            raise HTTPException(502, detail=str(exc)) from None
        return FactLookup(fact_hash=normalised, records=records, onchain={"error": str(exc)}, note=ONCHAIN_NOTE)
    if not records and not onchain["verifications"]:
        raise HTTPException(404, detail=f"fact {normalised}: no record here, and Integrity's FactRegistry "
                                        f"holds no verification of it (block {onchain['block_number']})")
    return FactLookup(fact_hash=normalised, records=records, onchain=onchain, note=ONCHAIN_NOTE)
