"""Apply the app's Alembic migrations (``zkp migrate``, ``make run``, tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from zk_pipeline.db.urls import database_url, with_psycopg2

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    # Alembic's config is a ConfigParser: a '%' (percent-encoded password characters) must be doubled,
    # or it is read as interpolation and the error message quotes the whole URL.
    cfg.set_main_option("sqlalchemy.url", (with_psycopg2(url) if url else database_url()).replace("%", "%%"))
    return cfg


def upgrade(url: str | None = None, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str | None = None, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)
