"""Engines and sessions, one engine per URL per process."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

from zk_pipeline.db.urls import database_url, with_psycopg2


@lru_cache(maxsize=8)
def get_engine(url: str | None = None) -> Engine:
    return create_engine(with_psycopg2(url) if url else database_url(), pool_pre_ping=True,
                         connect_args={"connect_timeout": 5})


def session_factory(url: str | None = None) -> sessionmaker[Session]:
    return sessionmaker(get_engine(url), expire_on_commit=False)


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A transaction: committed on success, rolled back on any error."""
    session = session_factory(url)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
