"""Proof jobs: request one, follow it, download it; and verify an uploaded proof.

HTTP only: the work is in ``zk_pipeline.services``. ``POST /proofs/generate``
records a queued job and returns; Dagster's ``proof_requests_sensor`` turns it
into one run of ``proof_request_job``, which proves it in the ``prover`` pool.
An API process can stop at any moment without losing or repeating a request.
``POST /proofs/verify`` is local and stateless.
"""

from __future__ import annotations

import json
import uuid
from typing import Annotated

from fastapi import APIRouter, File, HTTPException, Path, Request, Response, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from api.body_limits import BodyLimit
from api.deps import SessionDep, SessionReleasingRoute, SettingsDep, public_text, resolve_database_url
from api.schemas import (
    ProofAttemptInfo,
    ProofHashes,
    ProofJobAccepted,
    ProofJobInfo,
    ProofTimings,
    VerifyResult,
)
from zk_pipeline.db import proof_records
from zk_pipeline.db.models import ProofJob, ProofStatus
from zk_pipeline.db.session import session_scope
from zk_pipeline.services import proof_checks, proof_requests

router = APIRouter(prefix="/proofs", tags=["proofs"], route_class=SessionReleasingRoute)

MIB = 1024 * 1024
MAX_PROOF_BYTES = 4 * MIB
MAX_STATEMENT_BYTES = 8 * MIB
#: Multipart framing allowance on top of the parts' own limits.
MULTIPART_OVERHEAD = 64 * 1024
#: What ``api.body_limits.BodyLimits`` enforces while the bodies arrive (paths under the /api/v1 prefix).
BODY_LIMITS = {
    ("POST", "/api/v1/proofs/generate"): BodyLimit(MAX_STATEMENT_BYTES, "the request body"),
    ("POST", "/api/v1/proofs/verify"): BodyLimit(MAX_PROOF_BYTES + MAX_STATEMENT_BYTES + MULTIPART_OVERHEAD,
                                                 "the upload", "multipart/form-data"),
}

#: The routes match only UUID-shaped ids (``{proof_job_id:uuid}``), so ``GET /proofs/verify`` is a 405 with
#: ``Allow: POST`` (the verify route's method), not a 422 from this route trying to read "verify" as an id.
JobId = Annotated[uuid.UUID, Path(description="The proof job's UUID, hyphenated (any case).")]

GENERATE_BODY = {
    "required": True,
    "content": {"application/json": {
        "schema": {"oneOf": [
            {"type": "object", "title": "Statement", "required": ["hour", "protocols"],
             "description": "A statement as for `zkp prove --input` (format zk-pipeline/statement/v1): hour, "
                            "model (version, optional params and model_hash), protocols, optional outputs. "
                            "Outputs are computed when absent and must match the model when present."},
            {"type": "object", "title": "Partition", "required": ["partition_key"], "additionalProperties": False,
             "properties": {"partition_key": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}-\d{2}:00$",
                                              "description": "An hour (UTC) whose allocation proposal is stored; "
                                                             "its statement under the current model is proven."}}},
        ]},
        "examples": {"partition": {"summary": "The stored proposal of one hour",
                                   "value": {"partition_key": "2026-11-20-10:00"}}},
    }},
}


def _record_request(request: Request, raw: bytes) -> tuple[int, ProofJobAccepted]:
    with session_scope(resolve_database_url(request)) as s:
        submitted = proof_requests.request_proof(s, raw)
        job = submitted.job
        code = 200 if submitted.finished else 202
        return code, ProofJobAccepted(
            proof_job_id=job.id, status=job.status.value, reused=submitted.reused, statement_hash=job.statement_hash,
            status_url=request.app.url_path_for("get_proof_job", proof_job_id=job.id))


@router.post(
    "/generate",
    response_model=ProofJobAccepted,
    status_code=202,
    summary="Request a proof of a statement",
    openapi_extra={"requestBody": GENERATE_BODY},
    responses={
        200: {"model": ProofJobAccepted, "description": "A verified job for this statement hash exists; it is returned."},
        404: {"description": "`partition_key` names an hour without a stored allocation proposal."},
        413: {"description": "The body exceeds 8 MiB."},
        422: {"description": "Not JSON, not a valid statement (the reason says where), or a malformed partition key."},
    },
)
async def generate(request: Request) -> JSONResponse:
    """Records a proof job; Dagster proves it (`proof_request_job`, in the `prover` pool). Poll `status_url` until
    `verified`/`failed`/`rejected`/`interrupted`.

    The body is either a statement (the JSON of `zkp prove --input`) or `{"partition_key": "YYYY-MM-DD-HH:00"}`
    for the stored allocation proposal of that hour under the current model. Jobs are keyed by the statement
    hash: an identical statement with a verified job gets that job back with **200** (nothing is proven
    again); one already requested and not finished is joined (**202**, `reused: true`), from any API process;
    otherwise **202** with a new `queued` job, which stays queued until Dagster's daemon takes it up.
    The prover chain is `ZKP_PROVERS` with its retries and fallbacks; every attempt is listed on the job.
    """
    raw = await request.body()  # bounded while it arrives (BODY_LIMITS)
    code, accepted = await run_in_threadpool(_record_request, request, raw)  # parsing 8 MiB is work too
    headers = {"Location": accepted.status_url} if code == 202 else {}
    return JSONResponse(accepted.model_dump(), status_code=code, headers=headers)


# ---------------------------------------------------------------- read jobs


def _job_or_404(session, proof_job_id: uuid.UUID) -> ProofJob:
    job = proof_records.get_job(session, str(proof_job_id))
    if job is None:
        raise HTTPException(404, detail=f"proof job {proof_job_id} not found")
    return job


@router.get(
    "/{proof_job_id:uuid}",
    response_model=ProofJobInfo,
    summary="Status, timings, hashes and attempts of a proof job",
    responses={404: {"description": "No proof job with this id."}},
)
def get_proof_job(request: Request, session: SessionDep, proof_job_id: JobId) -> ProofJobInfo:
    """Every attempt of every backend is listed with its outcome and error, so a failed job says why."""
    job = _job_or_404(session, proof_job_id)
    url = resolve_database_url(request)
    attempts = [
        ProofAttemptInfo(backend=a.backend, attempt=a.attempt, outcome=a.outcome, error=public_text(a.error, url),
                         started_at=a.started_at, finished_at=a.finished_at, duration_ms=a.duration_ms)
        for a in proof_records.attempts_of(session, job.id)
    ]
    return ProofJobInfo(
        proof_job_id=job.id, status=job.status.value, origin=job.origin, source=job.source, hour=job.hour,
        model_version=job.model_version, model_hash=job.model_hash, proof_size=job.proof_size,
        security_bits=job.security_bits,
        timings=ProofTimings(generation_time_ms=job.generation_time_ms, verification_time_ms=job.verification_time_ms),
        hashes=ProofHashes(statement_hash=job.statement_hash, proof_hash=job.proof_hash, program_hash=job.program_hash,
                           output_hash=job.output_hash, fact_hash=job.fact_hash, l2_fact_hash=job.l2_fact_hash,
                           l2_verified_at=job.l2_verified_at),
        attempts=attempts, last_error=public_text(job.last_error, url),
        proof_url=request.app.url_path_for("download_proof", proof_job_id=job.id) if job.proof_hash else None,
        statement_url=request.app.url_path_for("download_statement", proof_job_id=job.id),
        generated_at=job.generated_at, created_at=job.created_at, updated_at=job.updated_at,
    )


@router.get(
    "/{proof_job_id:uuid}/proof",
    summary="Download the proof bytes",
    response_class=Response,
    responses={
        200: {"content": {"application/octet-stream": {}}, "description": "The proof; ETag is its SHA-256."},
        304: {"description": "If-None-Match matched the proof hash."},
        404: {"description": "No such job, or the job has no proof (yet); the detail says which."},
    },
)
def download_proof(request: Request, session: SessionDep, proof_job_id: JobId) -> Response:
    """The binary proof as written by `zkp prove`; verify it with `zkp verify` or `POST /proofs/verify`."""
    job = _job_or_404(session, proof_job_id)
    if not job.proof_hash:
        raise HTTPException(404, detail=f"proof job {job.id} has no proof (status {job.status.value})"
                                        + (": it is still being proven" if job.status in
                                           (ProofStatus.queued, ProofStatus.running) else ""))
    etag = f'"{job.proof_hash}"'
    if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers={"ETag": etag})
    data = proof_records.load_blob(session, job.proof_hash)
    if data is None:
        raise HTTPException(404, detail=f"the bytes of proof {job.proof_hash} are missing from storage")
    return Response(content=data, media_type="application/octet-stream", headers={
        "Content-Disposition": f'attachment; filename="proof-{job.id}.bin"',
        "ETag": etag,
        "Cache-Control": "public, max-age=31536000, immutable",  # content-addressed
    })


@router.get(
    "/{proof_job_id:uuid}/statement",
    summary="Download the statement a job proves",
    responses={200: {"content": {"application/json": {}}}, 404: {"description": "No proof job with this id."}},
)
def download_statement(session: SessionDep, proof_job_id: JobId) -> Response:
    """The statement JSON with its claimed outputs: with the proof, all `POST /proofs/verify` needs."""
    job = _job_or_404(session, proof_job_id)
    body = json.dumps(job.statement, indent=1, sort_keys=True).encode()
    return Response(content=body, media_type="application/json", headers={
        "Content-Disposition": f'attachment; filename="statement-{job.id}.json"'})


# -------------------------------------------------------------------- verify


async def _read_part(name: str, part: UploadFile | str, limit: int) -> bytes:
    data = part.encode() if isinstance(part, str) else await part.read()
    if len(data) > limit:
        raise HTTPException(413, detail=f"field {name!r} exceeds the limit of {limit} bytes")
    return data


@router.post(
    "/verify",
    response_model=VerifyResult,
    summary="Verify an uploaded proof against a statement (stateless)",
    responses={
        413: {"description": "proof > 4 MiB or statement > 8 MiB (a statement sent as a plain form field: > 1 MiB); "
                             "an upload past the sum of the limits is refused while it arrives."},
        415: {"description": "Not a multipart/form-data body."},
        422: {"description": "Missing/unknown field, malformed statement, statement without outputs, "
                             "or proof bytes that do not decode."},
    },
)
async def verify(
    request: Request,
    settings: SettingsDep,
    proof: Annotated[UploadFile, File(description="Proof bytes (≤ 4 MiB).")],
    statement: Annotated[UploadFile | str, File(description="Statement JSON with its claimed outputs (≤ 8 MiB), "
                                                            "as a file or a field.")],
) -> VerifyResult:
    """Runs the local STARK verifier on `proof` against `statement`; nothing is stored and no job is created.

    `valid: false` with a `reason` means the proof decodes but does not prove this statement (for instance
    a changed input or output, or security below `ZKP_MIN_SECURITY_BITS`). When valid, `fact_hash` is the
    Integrity fact the statement yields (see `GET /verification/verify-fact-hash/{fact_hash}`).
    """
    unexpected = sorted(set((await request.form()).keys()) - {"proof", "statement"})
    if unexpected:
        raise HTTPException(422, detail=f"unexpected field {unexpected[0][:64]!r}; expected ['proof', 'statement']")
    proof_bytes = await _read_part("proof", proof, MAX_PROOF_BYTES)
    statement_bytes = await _read_part("statement", statement, MAX_STATEMENT_BYTES)
    fields = await run_in_threadpool(proof_checks.verify_upload, proof_bytes, statement_bytes,
                                     settings.provers.min_security_bits)
    return VerifyResult(**fields)
