"""Request-scoped database sessions.

The URL is resolved per request (the app's explicit URL, else ``DATABASE_URL``)
so that importing ``api.main`` never needs a database or its configuration.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Callable
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session

from zk_pipeline import redaction
from zk_pipeline.db.session import session_factory
from zk_pipeline.settings import Settings, SettingsError, get_settings
from zk_pipeline.db.urls import database_url, with_psycopg2


class DatabaseNotConfigured(Exception):
    """Raised instead of the config RuntimeError so it maps to a 503, not a bare 500."""


def resolve_database_url(request: Request) -> str:
    return app_database_url(request.app)


def app_database_url(app: FastAPI) -> str:
    """The app's explicit URL, else ``DATABASE_URL`` (raises ``DatabaseNotConfigured`` when neither is set)."""
    explicit = app.state.database_url
    if explicit:
        return with_psycopg2(explicit)
    try:
        return database_url()
    except RuntimeError as exc:
        raise DatabaseNotConfigured("database not configured: DATABASE_URL is not set") from exc


def public_text(text: str | None, db_url: str | None = None) -> str | None:
    """``text`` fit for a response or a log (``zk_pipeline.redaction.public_text``), the database URL masked too."""
    return redaction.public_text(text, [db_url])


def settings_or_503() -> Settings:
    """The validated settings; a bad variable is a 503 naming it (the app refuses to start with one too)."""
    try:
        return get_settings()
    except SettingsError as exc:
        raise HTTPException(503, detail=f"configuration error: {exc}") from None


SettingsDep = Annotated[Settings, Depends(settings_or_503)]


def dagster_instance(settings: SettingsDep):
    """Dagster's instance (``DAGSTER_HOME``) to read runs from; ``DagsterUnavailable`` when it is not configured."""
    from zk_pipeline.services import dagster_runs

    home = settings.dagster.home
    return dagster_runs.instance_at(str(home) if home else None)


def scrub(message: str, url: str) -> str:
    """Driver messages are not meant to carry passwords; this makes sure they never do."""
    return redaction.public_text(message, [url])


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One read-only session per request; the engine (and its pool) is shared per URL.

    On the event loop, not in a thread: making a session does no I/O (it connects on its first
    query, in the route's thread), and ``SessionReleasingRoute`` has closed it by the time this
    closes it again, which is then a no-op. Two thread hops less per request.
    """
    session = session_factory(resolve_database_url(request))()
    try:
        yield session
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_session)]


def _close_sessions(values) -> None:
    for value in values:
        if isinstance(value, Session):
            value.close()


def _releasing(endpoint: Callable) -> Callable:
    """``endpoint``, closing the sessions it was given as soon as it returns (in its own thread)."""
    if getattr(endpoint, "_releases_sessions", False):
        return endpoint
    if inspect.iscoroutinefunction(endpoint):
        @functools.wraps(endpoint)
        async def wrapper(*args, **kwargs):
            try:
                return await endpoint(*args, **kwargs)
            finally:
                _close_sessions(kwargs.values())
    else:
        @functools.wraps(endpoint)
        def wrapper(*args, **kwargs):
            try:
                return endpoint(*args, **kwargs)
            finally:
                _close_sessions(kwargs.values())
    wrapper._releases_sessions = True
    return wrapper


class SessionReleasingRoute(APIRoute):
    """A route whose database session goes back to the pool when the route function returns.

    FastAPI closes a ``yield`` dependency only after it has validated the response, and for a sync
    route that validation takes another thread of the same bounded pool the routes run on. Under
    load every thread could then wait for a connection held by requests waiting for a thread: one
    API process stopped answering (even ``/health``) until the pool timed out. Closed here, in the
    route's own thread, a connection is held only while a route runs, so the holders always finish
    (``tests/api/test_concurrency.py``).
    """

    def __init__(self, path: str, endpoint: Callable, **kwargs) -> None:
        super().__init__(path, _releasing(endpoint), **kwargs)
