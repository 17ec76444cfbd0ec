"""Liveness of the service and whether its database answers.

The answer says *whether* the database answers, never *where* it is: no URL,
user, host, socket path or database name, and no driver message (those carry
them). The driver's first line goes to the server log, password scrubbed, for
whoever runs the service.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from api.deps import DatabaseNotConfigured, resolve_database_url, scrub
from api.schemas import Health
from zk_pipeline.db.session import get_engine

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])


def _unavailable(database: str, reason: str) -> JSONResponse:
    return JSONResponse(Health(status="unavailable", database=database, reason=reason).model_dump(), status_code=503)


@router.get(
    "/health",
    response_model=Health,
    summary="Health check",
    responses={503: {"model": Health, "description": "The database is not configured or does not answer."}},
)
def health(request: Request):
    """Runs `SELECT 1`; answers 503 with a reason instead of failing, so probes can read why."""
    try:
        url = resolve_database_url(request)
    except DatabaseNotConfigured as exc:
        return _unavailable("not configured", str(exc))
    try:
        with get_engine(url).connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        lines = str(getattr(exc, "orig", None) or exc).strip().splitlines() or [type(exc).__name__]
        log.warning("health: database unreachable: %s", scrub(lines[0], url))
        return _unavailable("unreachable", f"database unreachable ({type(exc).__name__})")
    return Health(status="ok", database="ok")
