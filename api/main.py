"""The read-only HTTP API over the pipeline's records.

``create_app`` takes an explicit database URL (tests, embedding); the
module-level ``app`` (``uvicorn api.main:app``) reads ``DATABASE_URL`` when a
request needs it, so importing this module never touches a database. At
startup, and every ``ZKP_API_RECOVERY_INTERVAL_S`` seconds after, the app takes up
the proof jobs an API process that is gone left unfinished
(``api.routes.proofs.recover_interrupted_jobs``; live processes hold theirs with
advisory locks); a database that is missing or unreachable then is logged and
does not stop the app from serving. Also at startup, a background thread
imports the fact look-up's Starknet modules (starknet-py takes a second or
more to import), so the first ``verify-fact-hash`` call does not pay for it.

``/docs`` and ``/redoc`` load Swagger UI and ReDoc from files the
``fastapi-offline`` package ships, served here: the API docs need no network.
"""

from __future__ import annotations

import importlib
import json
import logging
import math
import os
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi_offline import FastAPIOffline
from fastapi.concurrency import run_in_threadpool
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from api.deps import DatabaseNotConfigured, app_database_url
from api.routes import api_router

log = logging.getLogger(__name__)

DESCRIPTION = """
The zk-pipeline's allocation decisions, their STARK proofs and verified facts,
and the risk-model registry.

Every decision records the model version and model hash it was computed with
and the proof job that proves it; `/model-registry` returns the parameters
behind each hash, `/proofs` the proofs (generate, status, download, verify)
and `/verification` the facts verifiers accepted. All timestamps are UTC.
"""

TAGS = [
    {"name": "risk-engine", "description": "Allocation decisions between JediSwap and Ekubo, one per hour and model version."},
    {"name": "model-registry", "description": "Immutable risk-model versions, their parameters and hashes."},
    {"name": "proofs", "description": "Proof jobs: generate in the background, follow, download, verify an uploaded proof."},
    {"name": "verification", "description": "Verification state of proof jobs and facts accepted by verifiers."},
    {"name": "health", "description": "Service and database health for probes."},
]

# Errors meaning "the database is not there right now": retrying later may help.
UNAVAILABLE = (OperationalError, InterfaceError, PoolTimeoutError)


def _database_error(request: Request, exc: Exception) -> JSONResponse:
    """Never echoes the exception: SQL errors can carry statements, hosts or user names."""
    if isinstance(exc, DatabaseNotConfigured):
        return JSONResponse({"detail": str(exc)}, status_code=503)
    log.error("database error on %s %s: %s", request.method, request.url.path, type(exc).__name__,
              exc_info=not isinstance(exc, UNAVAILABLE))
    if isinstance(exc, UNAVAILABLE) or (isinstance(exc, DBAPIError) and exc.connection_invalidated):
        return JSONResponse({"detail": f"database unavailable ({type(exc).__name__}); retry later"}, status_code=503)
    return JSONResponse({"detail": f"database error ({type(exc).__name__})"}, status_code=500)


def _printable(value, limit: int = 200):
    """An echoed input as JSON can carry it: no NaN/Infinity (not JSON), nothing longer than ``limit``."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, (dict, list, tuple)):
        try:
            text = json.dumps(value, allow_nan=False)
        except ValueError:  # a NaN inside
            return _printable(repr(value), limit)
        return value if len(text) <= limit else _printable(text, limit)
    if isinstance(value, (str, bytes)):
        text = value if isinstance(value, str) else value.decode("utf-8", "replace")
        return text if len(text) <= limit else text[:limit] + f"… ({len(text)} characters)"
    return value


def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's 422, with echoed inputs shortened and made JSON-safe (a NaN input used to make it a 500)."""
    errors = [{**{k: v for k, v in e.items() if k not in ("input", "ctx", "url")}, "input": _printable(e.get("input"))}
              for e in exc.errors()]
    return JSONResponse({"detail": errors}, status_code=422)


#: FastAPI's answer to a JSON body it cannot decode as text (not UTF-8): an undocumented 400.
_BODY_PARSE_ERROR = "There was an error parsing the body"


async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    """A body that is not UTF-8 JSON gets the documented 422 of any other undecodable JSON body."""
    if exc.status_code == 400 and exc.detail == _BODY_PARSE_ERROR:
        return JSONResponse({"detail": [{"type": "json_invalid", "loc": ["body"], "input": None,
                                         "msg": "JSON decode error: the body is not UTF-8 text"}]}, status_code=422)
    return await http_exception_handler(request, exc)


def _recover_proof_jobs(app: FastAPI, startup: bool = False) -> None:
    from api.routes.proofs import recover_interrupted_jobs

    try:
        recover_interrupted_jobs(app_database_url(app))
    except DatabaseNotConfigured:
        if startup:
            log.info("DATABASE_URL is not set: no interrupted proof jobs to recover")
    except Exception as exc:  # never echo it: SQL errors can carry statements, hosts or user names
        log.warning("interrupted proof jobs not recovered now (%s); the next sweep tries again", type(exc).__name__)


def _recovery_interval_s() -> float:
    try:
        return max(0.2, float(os.environ.get("ZKP_API_RECOVERY_INTERVAL_S", "60")))
    except ValueError:
        log.warning("ZKP_API_RECOVERY_INTERVAL_S is not a number; using 60")
        return 60.0


#: Imported by a background thread at startup: what ``verify-fact-hash`` (starknet-py) and the orchestration
#: routes (Dagster, its GraphQL client) would otherwise import on their first call, ~1-2 s each.
WARM_MODULES = ("zk_pipeline.facts.integrity", "dagster", "dagster_graphql")


def _warm_up() -> None:
    for name in WARM_MODULES:
        try:
            importlib.import_module(name)
        except Exception as exc:  # the request that needs it reports the error; start-up goes on
            log.warning("could not import %s in advance: %s", name, type(exc).__name__)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Take up orphaned proof jobs at startup, then periodically (another API process may die)."""
    app.state.warm_up = threading.Thread(target=_warm_up, name="zkp-warm-up", daemon=True)
    app.state.warm_up.start()
    await run_in_threadpool(_recover_proof_jobs, app, True)
    stop = threading.Event()
    interval = _recovery_interval_s()

    def sweep() -> None:
        while not stop.wait(interval):
            _recover_proof_jobs(app)

    sweeper = threading.Thread(target=sweep, name="zkp-proof-recovery", daemon=True)
    sweeper.start()
    try:
        yield
    finally:
        stop.set()
        sweeper.join(5)


def create_app(database_url: str | None = None, integrity=None) -> FastAPI:
    """``integrity``: an ``IntegrityRegistry`` for on-chain fact look-ups; None reads ``ZKP_INTEGRITY_*``."""
    app = FastAPIOffline(
        lifespan=_lifespan,
        title="zk-pipeline API",
        version="1.0.0",
        summary="Verifiable DeFi allocation decisions for Starknet.",
        description=DESCRIPTION,
        openapi_tags=TAGS,
    )
    app.state.database_url = database_url
    app.state.integrity = integrity
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(DatabaseNotConfigured, _database_error)
    app.add_exception_handler(SQLAlchemyError, _database_error)
    app.include_router(api_router)
    return app


app = create_app()
