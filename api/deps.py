"""Request-scoped database sessions.

The URL is resolved per request (the app's explicit URL, else ``DATABASE_URL``)
so that importing ``api.main`` never needs a database or its configuration.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from zk_pipeline.db.session import session_factory
from zk_pipeline.db.urls import database_url, redact, with_psycopg2


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


def scrub(message: str, url: str) -> str:
    """Driver messages are not meant to carry passwords; this makes sure they never do."""
    message = redact(message)
    try:
        password = make_url(url).password
    except Exception:  # an unparsable URL has no password we could recognise
        password = None
    if password:
        message = message.replace(str(password), "***")
    return message


def get_session(request: Request) -> Iterator[Session]:
    """One read-only session per request; the engine (and its pool) is shared per URL."""
    with session_factory(resolve_database_url(request))() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
