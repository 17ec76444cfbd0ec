"""Dagster resources: one ``ConfigurableResource`` per outside system.

Values come from the environment (``EnvVar``) in ``definitions.py`` so the
same code runs on the embedded PostgreSQL, a user's server, or in tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from dagster import ConfigurableResource
from pydantic import Field
from sqlalchemy.orm import Session

from zk_pipeline.db.session import session_scope
from zk_pipeline.risk.registry import ModelVersion, get_version
from zk_pipeline.sources.base import MetricsSource


class DatabaseResource(ConfigurableResource):
    """The app's PostgreSQL (schema ``zkp``)."""

    url: str = Field(description="SQLAlchemy URL of the server; the driver is forced to psycopg2.")

    @contextmanager
    def session(self) -> Iterator[Session]:
        with session_scope(self.url) as s:
            yield s


class MetricsSourceResource(ConfigurableResource):
    """Where protocol metrics come from: ``replay`` (default, offline), ``ekubo_api`` or ``starknet_rpc``."""

    kind: str = Field(default="replay", description="replay | ekubo_api | starknet_rpc")
    replay_path: str | None = Field(default=None, description="CSV/Parquet in the replay format; default: shipped dataset")
    max_fill_hours: int = Field(default=3, description="Longest gap the quality rules fill by carrying forward")

    def build(self) -> MetricsSource:
        if self.kind == "replay":
            from zk_pipeline.sources.replay import ReplaySource

            return ReplaySource(self.replay_path)
        raise ValueError(f"unknown metrics source kind {self.kind!r}; choose replay, ekubo_api or starknet_rpc")


class RiskModelResource(ConfigurableResource):
    """Which model version the pipeline runs: the registry's current one unless pinned."""

    pinned_version: int | None = Field(default=None, description="Pin a model version; default: current")

    def model(self) -> ModelVersion:
        return get_version(self.pinned_version)
