"""Proof jobs: generate in the background, follow, download, and verify uploaded proofs.

``POST /proofs/generate`` never proves inside the request: it records a job
and hands it to a small pool of daemon worker threads of this process
(``ZKP_API_PROOF_WORKERS``, default 1), each of which drives the prover chain
of ``ZKP_PROVERS`` (the prover itself runs as a child process). A bounded pool
rather than ``BackgroundTasks``: proofs queue instead of taking over the
server's request threads, and shutdown never waits for them. A statement whose
hash already has a verified job gets that job back (200); one already queued or
running in this process is joined (202, ``reused``). Jobs still queued or
running when the API stopped are taken up again at its next start
(``recover_interrupted_jobs``).

``POST /proofs/verify`` is local and stateless: it verifies the uploaded bytes
against the uploaded statement and records nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import select

from api.deps import SessionDep, SessionReleasingRoute, resolve_database_url, scrub
from api.schemas import (
    ProofAttemptInfo,
    ProofHashes,
    ProofJobAccepted,
    ProofJobInfo,
    ProofTimings,
    VerifyResult,
)
from zk_pipeline.db import proofs as proof_records
from zk_pipeline.db.models import ProofJob, ProofStatus
from zk_pipeline.db.session import session_factory
from zk_pipeline.jsonio import JsonInputError, parse_json
from zk_pipeline import redaction
from zk_pipeline.orchestration import BackgroundWorkers
from zk_pipeline.risk.params import felt_hex
from zk_pipeline.risk.statement import Statement, StatementError

log = logging.getLogger(__name__)

router = APIRouter(prefix="/proofs", tags=["proofs"], route_class=SessionReleasingRoute)

MIB = 1024 * 1024
MAX_PROOF_BYTES = 4 * MIB
MAX_STATEMENT_BYTES = 8 * MIB
MAX_PART_HEADER_BYTES = 16 * 1024
#: Multipart framing allowance on top of the parts' own limits.
MULTIPART_OVERHEAD = 64 * 1024

#: The routes match only UUID-shaped ids (``{proof_job_id:uuid}``), so ``GET /proofs/verify`` is a 405 with
#: ``Allow: POST`` (the verify route's method), not a 422 from this route trying to read "verify" as an id.
JobId = Annotated[uuid.UUID, Path(description="The proof job's UUID, hyphenated (any case).")]


# ------------------------------------------------------------------ secrets

def public_text(text: str | None, db_url: str | None = None) -> str | None:
    """``text`` fit for a response or a log (``zk_pipeline.redaction.public_text``), the database password too."""
    if not text:
        return text
    return redaction.public_text(scrub(text, db_url) if db_url else text)


# ---------------------------------------------------------- request bodies


async def read_limited(request: Request, limit: int, what: str) -> bytes:
    """The request body, refused with 413 as soon as it grows past ``limit`` (not after reading it all)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, detail=f"{what} is {int(declared)} bytes; the limit is {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPException(413, detail=f"{what} exceeds the limit of {limit} bytes")
    return bytes(body)


@dataclass
class FormPart:
    name: str
    filename: str | None
    data: bytearray


_PARAM = re.compile(r';\s*([A-Za-z0-9_\-\*]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')


def _header_params(value: str) -> tuple[str, dict[str, str]]:
    kind = value.split(";", 1)[0].strip().lower()
    params = {}
    for key, raw in _PARAM.findall(value):
        raw = raw.strip()
        if raw.startswith('"') and raw.endswith('"') and len(raw) >= 2:
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        params[key.lower()] = raw
    return kind, params


class MultipartReader:
    """A streaming ``multipart/form-data`` parser with a byte limit per field.

    Fed chunk by chunk, it keeps at most one delimiter's length of unparsed
    body data, so a part is refused (``HTTPException(413)``) the moment it
    passes its limit, before the rest of the upload is read. Field names not in
    ``limits`` and repeated fields are refused with 422.
    """

    def __init__(self, boundary: str, limits: dict[str, int]) -> None:
        self.delimiter = b"\r\n--" + boundary.encode("latin-1")
        self.limits = limits
        self.parts: dict[str, FormPart] = {}
        self._buf = bytearray(b"\r\n")  # so the first delimiter looks like every other one
        self._state = "preamble"
        self._part: FormPart | None = None

    def feed(self, chunk: bytes) -> None:
        self._buf += chunk
        while self._step():
            pass

    def close(self) -> dict[str, FormPart]:
        if self._state != "done":
            raise HTTPException(422, detail="truncated multipart body: the closing boundary is missing")
        return self.parts

    def _step(self) -> bool:
        buf = self._buf
        if self._state == "preamble":
            i = buf.find(self.delimiter)
            if i < 0:
                keep = len(self.delimiter) - 1
                if len(buf) > MAX_PART_HEADER_BYTES + keep:
                    raise HTTPException(422, detail="multipart body does not start with its boundary")
                return False
            del buf[: i + len(self.delimiter)]
            self._state = "delimiter"
            return True
        if self._state == "delimiter":  # "--" closes the body; otherwise optional whitespace then CRLF
            if len(buf) >= 2 and buf[:2] == b"--":
                self._state = "done"
                return False
            end = buf.find(b"\r\n")
            if end < 0:
                if len(buf) > 256:
                    raise HTTPException(422, detail="malformed multipart boundary line")
                return False
            if buf[:end].strip(b" \t"):
                raise HTTPException(422, detail="malformed multipart boundary line")
            del buf[: end + 2]
            self._state = "headers"
            return True
        if self._state == "headers":
            if buf[:2] == b"\r\n":  # a part without any header
                raise HTTPException(422, detail="a multipart part has no Content-Disposition header")
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > MAX_PART_HEADER_BYTES:
                    raise HTTPException(413, detail=f"multipart part headers exceed {MAX_PART_HEADER_BYTES} bytes")
                return False
            if end > MAX_PART_HEADER_BYTES:
                raise HTTPException(413, detail=f"multipart part headers exceed {MAX_PART_HEADER_BYTES} bytes")
            self._start_part(bytes(buf[:end]))
            del buf[: end + 4]
            self._state = "body"
            return True
        if self._state == "body":
            i = buf.find(self.delimiter)
            if i >= 0:
                self._append(buf[:i])
                del buf[: i + len(self.delimiter)]
                self._state = "delimiter"
                return True
            safe = len(buf) - (len(self.delimiter) - 1)
            if safe > 0:
                self._append(buf[:safe])
                del buf[:safe]
            return False
        # done: the epilogue is ignored (its size still counts against the body limit)
        buf.clear()
        return False

    def _start_part(self, raw: bytes) -> None:
        disposition = None
        for line in raw.decode("latin-1").split("\r\n"):
            key, sep, value = line.partition(":")
            if sep and key.strip().lower() == "content-disposition":
                disposition = value
        if disposition is None:
            raise HTTPException(422, detail="a multipart part has no Content-Disposition header")
        kind, params = _header_params(disposition)
        name = params.get("name")
        if kind != "form-data" or not name:
            raise HTTPException(422, detail="a multipart part is not a named form-data field")
        if name not in self.limits:
            raise HTTPException(422, detail=f"unexpected field {name[:64]!r}; expected {sorted(self.limits)}")
        if name in self.parts:
            raise HTTPException(422, detail=f"field {name!r} is given more than once")
        self._part = self.parts[name] = FormPart(name, params.get("filename"), bytearray())

    def _append(self, data: bytes | bytearray) -> None:
        part = self._part
        part.data += data
        limit = self.limits[part.name]
        if len(part.data) > limit:
            raise HTTPException(413, detail=f"field {part.name!r} exceeds the limit of {limit} bytes")


async def read_multipart(request: Request, limits: dict[str, int]) -> dict[str, FormPart]:
    kind, params = _header_params(request.headers.get("content-type", ""))
    boundary = params.get("boundary", "")
    if kind != "multipart/form-data" or not 1 <= len(boundary) <= 70:
        raise HTTPException(415, detail="expected a multipart/form-data body with a boundary")
    total = sum(limits.values()) + MULTIPART_OVERHEAD
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > total:
        raise HTTPException(413, detail=f"upload is {int(declared)} bytes; the limit is {total} bytes "
                                        f"({', '.join(f'{k} ≤ {v} bytes' for k, v in limits.items())})")
    reader, received = MultipartReader(boundary, limits), 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > total:
            raise HTTPException(413, detail=f"upload exceeds the limit of {total} bytes")
        reader.feed(chunk)
    return reader.close()


# ------------------------------------------------------------- background


def _lease_key(job_id: str) -> int:
    """A job's advisory-lock key: 64 bits of a hash of its id, in PostgreSQL's signed bigint range."""
    digest = hashlib.blake2s(b"zk-pipeline/proof-job:" + job_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class JobLeases:
    """Which API process holds which proof job: PostgreSQL session-level advisory locks.

    Each process keeps one dedicated connection per database and takes ``pg_try_advisory_lock``
    on a job before it queues it, releasing it when the job ends. A process that dies loses
    its connection and with it every lock, so "unfinished and unlocked" means "nobody is
    working on it": several API processes can share one database, and each takes up only
    the jobs of processes that are gone. (A key is 64 bits of a hash of the job id; two jobs
    sharing one would only delay the take-over of one of them.)
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._conns: dict[str, Any] = {}
        self._held: dict[str, set[str]] = {}

    def _query(self, url: str, sql: str, key: int) -> bool:
        conn = self._conns.get(url)
        if conn is None:
            from zk_pipeline.db.session import get_engine

            conn = get_engine(url).raw_connection()  # checked out for good: the locks live on it
            conn.driver_connection.autocommit = True
            self._conns[url] = conn
        try:
            with conn.cursor() as cur:
                cur.execute(sql, (key,))
                return bool(cur.fetchone()[0])
        except Exception:  # a lost connection lost its locks too: start afresh
            self._conns.pop(url, None)
            self._held.pop(url, None)
            try:
                conn.invalidate()
            except Exception:
                pass
            raise

    def try_acquire(self, url: str, job_id: str) -> bool:
        """Hold ``job_id`` for this process; False if another live process holds it (or the DB fails)."""
        with self._lock:
            held = self._held.setdefault(url, set())
            if job_id in held:
                return True
            try:
                ok = self._query(url, "SELECT pg_try_advisory_lock(%s)", _lease_key(job_id))
            except Exception as exc:
                log.warning("proof job %s: lease not taken (%s)", job_id, type(exc).__name__)
                return False
            if ok:
                held.add(job_id)
            return ok

    def release(self, url: str, job_id: str) -> None:
        with self._lock:
            if job_id not in self._held.get(url, set()):
                return
            self._held[url].discard(job_id)
            try:
                self._query(url, "SELECT pg_advisory_unlock(%s)", _lease_key(job_id))
            except Exception as exc:
                log.warning("proof job %s: lease not released (%s)", job_id, type(exc).__name__)

    def close(self) -> None:
        """Drop every connection, hence every lock (what a process's death does)."""
        with self._lock:
            for conn in self._conns.values():
                try:
                    conn.invalidate()
                except Exception:
                    pass
            self._conns.clear()
            self._held.clear()


class ProofWorkers:
    """The threads that run proof jobs (daemons: see ``BackgroundWorkers``), and the statements they hold."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._threads: BackgroundWorkers | None = None
        self._in_flight: dict[tuple[str, str], str] = {}  # (database URL, statement hash) → job id
        self.leases = JobLeases()

    def lock(self) -> threading.Lock:
        return self._lock

    def in_flight(self, url: str, statement_hash: str) -> str | None:
        return self._in_flight.get((url, statement_hash))

    def forget(self, url: str, statement_hash: str) -> None:
        self._in_flight.pop((url, statement_hash), None)

    def holds(self, url: str, job_id: str) -> bool:
        """Whether this process has ``job_id`` queued or running. Call with ``lock()`` held."""
        return any(u == url and j == job_id for (u, _), j in self._in_flight.items())

    def submit(self, url: str, statement_hash: str, job_id: str, settings: dict[str, Any]) -> None:
        """Call with ``lock()`` held."""
        if self._threads is None:
            try:
                size = int(os.environ.get("ZKP_API_PROOF_WORKERS", "1"))
            except ValueError:
                log.warning("ZKP_API_PROOF_WORKERS is not an integer; using 1")
                size = 1
            self._threads = BackgroundWorkers("zkp-proof", size)
        if not self.leases.try_acquire(url, job_id):  # a new job: only a database failure refuses it
            log.warning("proof job %s runs without a lease: another API process could take it up too", job_id)
        self._in_flight[(url, statement_hash)] = job_id
        self._threads.submit(self._run, url, statement_hash, job_id, settings)

    def _run(self, url: str, statement_hash: str, job_id: str, settings: dict[str, Any]) -> None:
        from zk_pipeline.provers.orchestrator import ProofJobFailed, run_job
        from zk_pipeline.resources import ProverResource

        factory = session_factory(url)
        try:
            prover = ProverResource(**settings)
            outcome = run_job(factory, job_id, prover.build(), prover.policy())
            log.info("proof job %s verified (%s)", job_id, outcome.job.source)
        except ProofJobFailed as exc:
            log.warning("proof job %s: %s", job_id, public_text(str(exc), url))
        except Exception as exc:  # never leave a job "running" because of a bug or a lost database
            message = public_text(f"internal error: {type(exc).__name__}: {exc}", url)
            log.error("proof job %s crashed: %s", job_id, message)
            try:
                with factory.begin() as s:
                    job = proof_records.get_job(s, job_id)
                    if job is not None and job.status in (ProofStatus.queued, ProofStatus.running):
                        job.status, job.last_error = ProofStatus.failed, message
            except Exception as db_exc:
                log.error("proof job %s: could not record the crash (%s)", job_id, type(db_exc).__name__)
        finally:
            with self._lock:
                if self._in_flight.get((url, statement_hash)) == job_id:
                    del self._in_flight[(url, statement_hash)]
            self.leases.release(url, job_id)


workers = ProofWorkers()

#: ``proof_jobs.origin`` of the jobs the API creates.
API_ORIGIN = "api"
INTERRUPTED = "interrupted: the API stopped while proving"


def create_api_job(session, statement: Statement, hour: datetime | None) -> ProofJob:
    """A queued job of origin ``api``: see ``recover_interrupted_jobs``."""
    return proof_records.create_job(session, statement, hour, origin=API_ORIGIN)


def recover_interrupted_jobs(url: str) -> list[str]:
    """Queue again the jobs an earlier API process accepted but never finished; returns their ids.

    Which jobs: status ``queued`` or ``running`` and ``origin = 'api'``, minus
    the jobs this process holds itself and the jobs another live API process
    holds (its advisory lock, see :class:`JobLeases`); a failed or rejected job
    is final anyway. Jobs of Dagster's ``allocation_proof`` have origin
    ``pipeline``, so a proof a Dagster run is making right now is never touched.
    Runs at startup and then every ``ZKP_API_RECOVERY_INTERVAL_S`` seconds, so
    the jobs of an API process that died are finished by the others.

    A ``running`` attempt of such a job was cut off: it is recorded as
    ``failed`` with the error ``INTERRUPTED``, and the job is queued again; the
    orchestrator then runs the prover chain afresh (attempt numbers go on).
    Nothing is queued when the prover configuration is unusable: the jobs wait
    for the next start.
    """
    factory = session_factory(url)
    with factory.begin() as s:  # nothing to do, nothing to configure: the common case
        if not s.scalar(select(ProofJob.id).where(ProofJob.origin == API_ORIGIN, ProofJob.status.in_(
                (ProofStatus.queued, ProofStatus.running))).limit(1)):
            return []
    try:
        settings = _prover_settings()
    except HTTPException as exc:
        log.warning("interrupted proof jobs not recovered: %s", exc.detail)
        return []
    recovered: list[tuple[str, str]] = []
    with workers.lock():
        with factory.begin() as s:
            jobs = s.scalars(select(ProofJob).where(
                ProofJob.origin == API_ORIGIN, ProofJob.status.in_((ProofStatus.queued, ProofStatus.running)),
            ).order_by(ProofJob.created_at, ProofJob.id).with_for_update()).all()
            for job in jobs:
                if workers.holds(url, job.id) or not workers.leases.try_acquire(url, job.id):
                    continue
                for attempt in proof_records.attempts_of(s, job.id):
                    if attempt.outcome == "running":
                        proof_records.finish_attempt(s, attempt.id, "failed", INTERRUPTED)
                job.status = ProofStatus.queued
                recovered.append((job.id, job.statement_hash))
        for job_id, statement_hash in recovered:
            workers.submit(url, statement_hash, job_id, settings)
    if recovered:
        log.info("queued %d proof job(s) again that the API had not finished: %s", len(recovered),
                 ", ".join(job_id for job_id, _ in recovered))
    return [job_id for job_id, _ in recovered]


# ------------------------------------------------------------------ generate

PARTITION_KEY = re.compile(r"^\d{4}-\d{2}-\d{2}-\d{2}:00$")

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


def _prover_settings() -> dict[str, Any]:
    from zk_pipeline.provers.config import prover_settings_from_env
    from zk_pipeline.provers.registry import build_backends

    try:
        settings = prover_settings_from_env()
        build_backends(settings["backends"], command=settings["command"])
    except ValueError as exc:
        raise HTTPException(503, detail=f"prover configuration is unusable: {public_text(str(exc))}") from None
    if not settings["backends"]:
        raise HTTPException(503, detail="prover configuration is unusable: ZKP_PROVERS lists no backend")
    return settings


def _statement_for_partition(session, key: str) -> tuple[Statement, datetime]:
    from zk_pipeline.db import repository  # imported here: it pulls in pandas
    from zk_pipeline.risk.registry import get_version

    if not PARTITION_KEY.match(key):
        raise HTTPException(422, detail=f"partition_key {key[:40]!r} is not an hour like '2026-11-20-10:00' (UTC)")
    try:
        hour = datetime.strptime(key, "%Y-%m-%d-%H:%M").replace(tzinfo=timezone.utc)
    except ValueError as exc:
        raise HTTPException(422, detail=f"partition_key {key!r}: {exc}") from None
    model = get_version()
    proposal = repository.get_proposal(session, hour, model.version)
    if proposal is None:
        raise HTTPException(404, detail=f"no allocation proposal for {key} under model version {model.version} yet: "
                                        "materialize that partition first (or POST the statement itself)")
    try:
        return Statement.from_dict(proposal.statement), proposal.hour
    except StatementError as exc:
        raise HTTPException(500, detail=f"the stored statement for {key} is invalid: {exc}") from None


def _statement_from_body(payload: dict[str, Any]) -> Statement:
    try:
        statement = Statement.from_dict(payload)
    except StatementError as exc:
        raise HTTPException(422, detail=f"invalid statement: {exc}") from None
    try:
        computed = statement.evaluate().summary()
    except (ValueError, ArithmeticError) as exc:
        raise HTTPException(422, detail=f"the model cannot evaluate this statement: {exc}") from None
    if statement.outputs is None:
        return statement.with_outputs()
    if statement.outputs != computed:
        raise HTTPException(422, detail="invalid statement: the claimed outputs differ from what the model computes "
                                        "(omit 'outputs' to have them computed)")
    return statement


def _submit(request: Request, session, raw: bytes) -> tuple[int, ProofJobAccepted]:
    url = resolve_database_url(request)
    try:
        payload = parse_json(raw)
    except JsonInputError as exc:
        raise HTTPException(422, detail=f"the body is {exc}") from None
    if not isinstance(payload, dict):
        raise HTTPException(422, detail="the body must be a JSON object: a statement or {\"partition_key\": ...}")
    if "partition_key" in payload:
        if set(payload) != {"partition_key"} or not isinstance(payload["partition_key"], str):
            raise HTTPException(422, detail="give either a statement or {\"partition_key\": \"YYYY-MM-DD-HH:00\"} "
                                            "alone, not both")
        statement, hour = _statement_for_partition(session, payload["partition_key"])
    else:
        statement = _statement_from_body(payload)
        hour = statement.hour
    statement_hash = statement.statement_hash()
    settings = _prover_settings()
    factory = session_factory(url)
    with workers.lock():
        with factory.begin() as s:
            job = proof_records.find_verified_job(s, statement_hash)
            if job is not None:
                return 200, _accepted(request, job, statement_hash, reused=True)
            running_id = workers.in_flight(url, statement_hash)
            running = proof_records.get_job(s, running_id) if running_id else None
            if running is not None:
                return 202, _accepted(request, running, statement_hash, reused=True)
            workers.forget(url, statement_hash)
            job = create_api_job(s, statement, hour)
        workers.submit(url, statement_hash, job.id, settings)
    log.info("proof job %s queued for statement %s", job.id, statement_hash)
    return 202, _accepted(request, job, statement_hash, reused=False)


def _accepted(request: Request, job: ProofJob, statement_hash: str, reused: bool) -> ProofJobAccepted:
    return ProofJobAccepted(proof_job_id=job.id, status=job.status.value, reused=reused, statement_hash=statement_hash,
                            status_url=request.app.url_path_for("get_proof_job", proof_job_id=job.id))


@router.post(
    "/generate",
    response_model=ProofJobAccepted,
    status_code=202,
    summary="Prove a statement in the background",
    openapi_extra={"requestBody": GENERATE_BODY},
    responses={
        200: {"model": ProofJobAccepted, "description": "A verified job for this statement hash exists; it is returned."},
        404: {"description": "`partition_key` names an hour without a stored allocation proposal."},
        413: {"description": "The body exceeds 8 MiB."},
        422: {"description": "Not JSON, not a valid statement (the reason says where), or a malformed partition key."},
        503: {"description": "The prover configuration (ZKP_PROVERS / ZKP_PROVER_COMMAND) is unusable."},
    },
)
async def generate(request: Request, session: SessionDep) -> JSONResponse:
    """Creates a proof job and proves it in a worker thread; poll `status_url` until `verified`/`failed`/`rejected`.

    The body is either a statement (the JSON of `zkp prove --input`) or `{"partition_key": "YYYY-MM-DD-HH:00"}`
    for the stored allocation proposal of that hour under the current model. Jobs are keyed by the statement
    hash: an identical statement with a verified job gets that job back with **200** (nothing is proven
    again); otherwise **202** with a new job (or the one already queued/running in this process).
    The prover chain is `ZKP_PROVERS` with its retries and fallbacks; every attempt is listed on the job.
    """
    raw = await read_limited(request, MAX_STATEMENT_BYTES, "the request body")
    code, accepted = await run_in_threadpool(_submit, request, session, raw)  # parsing 8 MiB is work too
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

VERIFY_BODY = {
    "required": True,
    "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["proof", "statement"],
        "properties": {
            "proof": {"type": "string", "format": "binary", "description": "Proof bytes (≤ 4 MiB)."},
            "statement": {"type": "string", "format": "binary",
                          "description": "Statement JSON with its claimed outputs (≤ 8 MiB), as a file or a field."},
        },
    }}},
}


def _verify(proof: bytes, statement_json: bytes) -> VerifyResult:
    from zk_pipeline.facts.builtin import compute_facts
    from zk_pipeline.circuits.allocation import verify_statement
    from zk_pipeline.stark.proof import Proof, ProofFormatError

    try:
        statement = Statement.from_json(statement_json)
    except StatementError as exc:
        raise HTTPException(422, detail=f"invalid statement: {exc}") from None
    except UnicodeDecodeError:
        raise HTTPException(422, detail="invalid statement: not UTF-8 JSON") from None
    if statement.outputs is None:
        raise HTTPException(422, detail="invalid statement: it has no claimed 'outputs' to verify the proof against")
    try:
        Proof.from_bytes(proof)
    except ProofFormatError as exc:
        raise HTTPException(422, detail=f"undecodable proof: {public_text(str(exc))}") from None
    except Exception as exc:  # the decoder is meant to raise ProofFormatError only; hostile bytes get a 422 anyway
        raise HTTPException(422, detail=f"undecodable proof ({type(exc).__name__})") from None
    min_bits = int(os.environ.get("ZKP_MIN_SECURITY_BITS", "96"))
    res = verify_statement(statement, proof, min_security_bits=min_bits)
    fact = compute_facts(statement, int(res.security_bits)).to_json()["fact_hash"] if res.valid else None
    registered, registration = statement.registration()
    return VerifyResult(valid=bool(res.valid), reason=public_text(res.reason) or "", security_bits=int(res.security_bits),
                        verify_ms=float(res.verify_ms), proof_bytes=len(proof),
                        proof_hash=hashlib.sha256(proof).hexdigest(), statement_hash=statement.statement_hash(),
                        fact_hash=fact, distinct_query_cosets=res.distinct_query_cosets, params=res.params,
                        model_hash=felt_hex(statement.model_hash), model_registered=registered,
                        model_registration=registration)


@router.post(
    "/verify",
    response_model=VerifyResult,
    summary="Verify an uploaded proof against a statement (stateless)",
    openapi_extra={"requestBody": VERIFY_BODY},
    responses={
        413: {"description": "proof > 4 MiB or statement > 8 MiB; refused while reading."},
        415: {"description": "Not a multipart/form-data body."},
        422: {"description": "Missing/unknown field, malformed statement, statement without outputs, "
                             "or proof bytes that do not decode."},
    },
)
async def verify(request: Request) -> VerifyResult:
    """Runs the local STARK verifier on `proof` against `statement`; nothing is stored and no job is created.

    `valid: false` with a `reason` means the proof decodes but does not prove this statement (for instance
    a changed input or output, or security below `ZKP_MIN_SECURITY_BITS`). When valid, `fact_hash` is the
    Integrity fact the statement yields (see `GET /verification/verify-fact-hash/{fact_hash}`).
    """
    parts = await read_multipart(request, {"proof": MAX_PROOF_BYTES, "statement": MAX_STATEMENT_BYTES})
    missing = [name for name in ("proof", "statement") if name not in parts]
    if missing:
        raise HTTPException(422, detail=f"missing field(s): {', '.join(missing)}")
    return await run_in_threadpool(_verify, bytes(parts["proof"].data), bytes(parts["statement"].data))
