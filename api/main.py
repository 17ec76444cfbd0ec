"""The read-only HTTP API over the pipeline's records.

``create_app`` takes an explicit database URL (tests, embedding); the
module-level ``app`` (``uvicorn api.main:app``) reads ``DATABASE_URL`` when a
request needs it, so importing this module never touches a database. The API
runs no work of its own: proof and orchestration requests are recorded in
PostgreSQL and Dagster's sensors turn them into runs, so any API process can
be stopped at any time and several can share a database. It refuses to start
when a setting is unusable (``zk_pipeline.settings``). At startup, a background thread
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
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi_offline import FastAPIOffline
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from api.body_limits import BodyLimits
from api.deps import DatabaseNotConfigured
from api.routes import api_router
from api.routes.proofs import BODY_LIMITS
from zk_pipeline.db import model_versions
from zk_pipeline.services.errors import ServiceError
from zk_pipeline.settings import get_settings

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
    {"name": "proofs", "description": "Proof jobs: request one (Dagster proves it), follow, download, verify an uploaded proof."},
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
    """Body errors get the documented codes: a body that is not UTF-8 JSON is the 422 of any other
    undecodable JSON body; a multipart body Starlette cannot parse (its 400) is a 422 with its reason, or
    a 413 for a form field past Starlette's per-field limit."""
    if exc.status_code == 400 and exc.detail == _BODY_PARSE_ERROR:
        return JSONResponse({"detail": [{"type": "json_invalid", "loc": ["body"], "input": None,
                                         "msg": "JSON decode error: the body is not UTF-8 text"}]}, status_code=422)
    if exc.status_code == 400 and request.headers.get("content-type", "").startswith("multipart/form-data"):
        code = 413 if "maximum size" in str(exc.detail) else 422
        return JSONResponse({"detail": f"malformed multipart body: {exc.detail}"}, status_code=code)
    return await http_exception_handler(request, exc)


#: Imported by a background thread at startup: what ``verify-fact-hash`` (starknet-py) and the orchestration
#: routes (Dagster, its GraphQL client) would otherwise import on their first call, ~1-2 s each.
WARM_MODULES = ("zk_pipeline.facts.integrity", "dagster")


def _warm_up() -> None:
    for name in WARM_MODULES:
        try:
            importlib.import_module(name)
        except Exception as exc:  # the request that needs it reports the error; start-up goes on
            log.warning("could not import %s in advance: %s", name, type(exc).__name__)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Refuse to start on a bad setting (one line naming the variable); warm slow imports in the background."""
    get_settings()
    app.state.warm_up = threading.Thread(target=_warm_up, name="zkp-warm-up", daemon=True)
    app.state.warm_up.start()
    yield


def _service_error(request: Request, exc: ServiceError) -> JSONResponse:
    """A service's refusal: its status and its (already safe) reason."""
    return JSONResponse({"detail": str(exc)}, status_code=exc.status)


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
    # Registered model versions count wherever code ones do (a statement's registration, a pinned version).
    model_versions.install(database_url)
    app.state.integrity = integrity
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(DatabaseNotConfigured, _database_error)
    app.add_exception_handler(SQLAlchemyError, _database_error)
    app.add_exception_handler(ServiceError, _service_error)
    app.add_middleware(BodyLimits, limits=BODY_LIMITS)
    app.include_router(api_router)
    return app


app = create_app()
