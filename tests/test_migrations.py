"""Migrations apply, roll back and re-apply cleanly on a real PostgreSQL."""

from __future__ import annotations

from sqlalchemy import create_engine, inspect

from zk_pipeline.db.migrate import downgrade, upgrade
from zk_pipeline.db.models import Base
from zk_pipeline.db.urls import APP_SCHEMA


def test_round_trip_matches_models(migrated_url):
    engine = create_engine(migrated_url)
    expected = {t.name for t in Base.metadata.sorted_tables}
    assert expected <= set(inspect(engine).get_table_names(schema=APP_SCHEMA))
    downgrade(migrated_url, "base")
    assert set(inspect(engine).get_table_names(schema=APP_SCHEMA)) <= {"alembic_version"}
    upgrade(migrated_url)
    assert expected <= set(inspect(engine).get_table_names(schema=APP_SCHEMA))
    engine.dispose()
