"""Database URLs for the app and for Dagster.

One PostgreSQL server holds both. The app's tables live in the ``zkp`` schema;
Dagster's live in ``public``. Both get an explicit ``postgresql+psycopg2://``
URL: SQLAlchemy 2.1 maps a bare ``postgresql://`` to psycopg 3, and Dagster's
Postgres storage then fails on ``NOTIFY``.
"""

from __future__ import annotations

import re

from zk_pipeline.settings import get_settings

APP_SCHEMA = "zkp"


def with_psycopg2(url: str) -> str:
    return re.sub(r"^postgres(ql)?(\+[a-z0-9_]+)?://", "postgresql+psycopg2://", url)


def database_url() -> str:
    """The server URL from ``DATABASE_URL`` (set by ``zkp run``/tests for the embedded server)."""
    url = get_settings().database.url
    if url is None:
        raise RuntimeError(
            "DATABASE_URL is not set: run through `make run` (starts an embedded PostgreSQL) "
            "or export DATABASE_URL=postgresql://user@host:5432/dbname"
        )
    return with_psycopg2(url.get_secret_value())

