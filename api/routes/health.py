"""Liveness of the service and reachability of its database."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from api.deps import DatabaseNotConfigured, resolve_database_url, scrub
from api.schemas import Health
from zk_pipeline.db.session import get_engine
from zk_pipeline.db.urls import redact

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    response_model=Health,
    summary="Health check",
    responses={503: {"model": Health, "description": "The database is not configured or not reachable."}},
)
def health(request: Request):
    """Runs `SELECT 1`; answers 503 with a reason instead of failing, so probes can read why."""
    try:
        url = resolve_database_url(request)
    except DatabaseNotConfigured as exc:
        return JSONResponse(Health(status="unavailable", database=None, reason=str(exc)).model_dump(), status_code=503)
    try:
        with get_engine(url).connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        lines = str(getattr(exc, "orig", None) or exc).strip().splitlines() or [type(exc).__name__]
        reason = scrub(lines[0], url)
        body = Health(status="unavailable", database=redact(url), reason=f"database unreachable: {reason}")
        return JSONResponse(body.model_dump(), status_code=503)
    return Health(status="ok", database=redact(url))
