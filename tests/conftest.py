"""Shared fixtures: a throwaway real PostgreSQL and a real Dagster instance on it.

By default an embedded server (pgserver) is started in a temporary directory
and deleted afterwards. With ``TEST_DATABASE_URL`` set, a fresh database is
created on that server for the session and dropped at the end.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from zk_pipeline.db.urls import APP_SCHEMA, with_psycopg2

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"  # public real-world inputs, provenance in its README.md


@pytest.fixture(scope="session")
def pg_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    base = os.environ.get("TEST_DATABASE_URL")
    if base:
        name = f"zkp_test_{uuid.uuid4().hex[:8]}"
        admin = create_engine(with_psycopg2(base), isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        from sqlalchemy.engine import make_url

        yield str(make_url(with_psycopg2(base)).set(database=name).render_as_string(hide_password=False))
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        return
    from zk_pipeline.db import embedded

    server, url = embedded.start(tmp_path_factory.mktemp("pg") / "data", cleanup="delete")
    yield with_psycopg2(url)
    server.cleanup()


@pytest.fixture(scope="session")
def migrated_url(pg_url: str) -> str:
    from zk_pipeline.db.migrate import upgrade

    upgrade(pg_url)
    return pg_url


@pytest.fixture()
def db_url(migrated_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A migrated database with empty app tables; ``DATABASE_URL`` points at it."""
    engine = create_engine(migrated_url)
    with engine.begin() as c:
        tables = c.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname = :s AND tablename <> 'alembic_version'"
        ), {"s": APP_SCHEMA}).scalars().all()
        if tables:
            c.execute(text("TRUNCATE " + ", ".join(f'{APP_SCHEMA}."{t}"' for t in tables) + " CASCADE"))
    engine.dispose()
    monkeypatch.setenv("DATABASE_URL", migrated_url)
    from zk_pipeline.db import repository
    from zk_pipeline.db.session import session_scope

    with session_scope(migrated_url) as s:
        repository.sync_model_registry(s)
    yield migrated_url


@pytest.fixture()
def scratch_db_url(pg_url: str) -> Iterator[str]:
    """An empty database of its own on the session's server, dropped afterwards: for processes
    (``zkp run``) whose Dagster runs must not show up in the shared instance of other tests."""
    from sqlalchemy.engine import make_url

    name = f"zkp_scratch_{uuid.uuid4().hex[:8]}"
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    # Tests here kill processes connected to the scratch database; a pooled admin connection can be
    # dropped with them. Fresh connections, one retry.
    admin.dispose()
    for attempt in range(2):
        try:
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            break
        except OperationalError:
            if attempt:
                raise
            admin.dispose()
            time.sleep(1)
    admin.dispose()


@pytest.fixture()
def dagster_instance(migrated_url: str):
    """A real Dagster instance whose run/event/schedule storage is the same PostgreSQL."""
    from dagster import instance_for_test

    with instance_for_test(overrides={"storage": {"postgres": {"postgres_url": with_psycopg2(migrated_url)}}}) as inst:
        yield inst


@pytest.fixture()
def factory(db_url):
    """Sessions on the test database, as the prover orchestrator uses them."""
    from sqlalchemy.orm import sessionmaker

    from zk_pipeline.db.session import get_engine

    return sessionmaker(get_engine(db_url), expire_on_commit=False)
