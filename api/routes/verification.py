"""Verification state of proof jobs, and look-ups by fact hash (``zk_pipeline.services.facts``).

With a Starknet node configured (``ZKP_INTEGRITY_RPC_URL`` and
``ZKP_INTEGRITY_NETWORK``), a fact look-up also reads Integrity's FactRegistry live.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request

from api.deps import SessionDep, SessionReleasingRoute
from api.schemas import FactLookup, VerificationStatus, VerifierRecord
from zk_pipeline.db.models import ProofStatus, VerifiedFact
from zk_pipeline.services import facts

router = APIRouter(prefix="/verification", tags=["verification"], route_class=SessionReleasingRoute)


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
    job, records = facts.job_verification(session, str(proof_job_id))
    return VerificationStatus(
        proof_job_id=job.id, status=job.status.value, verified=job.status == ProofStatus.verified,
        fact_hash=job.fact_hash, security_bits=job.security_bits, verifiers=[_record(f) for f in records])


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
    answer = facts.lookup(session, _registry(request), fact_hash)
    return FactLookup(fact_hash=answer.fact_hash, records=[_record(f) for f in answer.records],
                      onchain=answer.onchain, note=answer.note)
