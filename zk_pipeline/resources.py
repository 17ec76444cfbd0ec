"""Dagster resources: one ``ConfigurableResource`` per outside system.

Values come from the settings in ``definitions.py`` (credentials as ``EnvVar``),
so the same code runs on the embedded PostgreSQL, a user's server, or in tests.
"""

from __future__ import annotations

import os

from collections.abc import Iterator
from contextlib import contextmanager

from dagster import ConfigurableResource, Failure
from pydantic import Field
from sqlalchemy.orm import Session

from zk_pipeline.db.session import session_scope
from zk_pipeline.risk.registry import InvalidModelVersion, ModelVersion, UnknownModelVersion, get_version
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
    base_token: str = Field(default="WBTC", description="Pool base token (symbol) for the live sources")
    quote_token: str = Field(default="USDC", description="Pool quote token (symbol, USD-pegged) for the live sources")
    ekubo_api_url: str = Field(default="https://prod-api.ekubo.org", description="Ekubo HTTP API base URL")
    rpc_url: str | None = Field(default=None, description="Starknet JSON-RPC node URL (may embed an API key)")
    rpc_backup_url: str | None = Field(default=None, description="Used when the primary node fails")

    def build(self) -> MetricsSource:
        if self.kind == "replay":
            from zk_pipeline.sources.replay import ReplaySource

            return ReplaySource(self.replay_path)
        if self.kind == "ekubo_api":
            from zk_pipeline.sources.ekubo_api import EkuboApiSource

            return EkuboApiSource(self.base_token, self.quote_token, base_url=self.ekubo_api_url)
        if self.kind == "starknet_rpc":
            from zk_pipeline.sources.starknet_rpc import EkuboPoolSpec, JediSwapPoolSpec, StarknetRpcSource

            if not self.rpc_url:
                raise ValueError("the starknet_rpc source needs ZKP_STARKNET_RPC_URL")
            return StarknetRpcSource(self.rpc_url, self.rpc_backup_url,
                                     ekubo_pools=(EkuboPoolSpec(self.base_token, self.quote_token),),
                                     jediswap_pools=(JediSwapPoolSpec(self.base_token, self.quote_token),))
        raise ValueError(f"unknown metrics source kind {self.kind!r}; choose replay, ekubo_api or starknet_rpc")


class RiskModelResource(ConfigurableResource):
    """Which model version the pipeline runs: the registry's current one unless pinned.

    A pin may name a code version or one registered in the database (``zk_pipeline.db.model_versions``
    reads it, checked against its hash). A version neither has, or a stored one that fails its check,
    is a ``Failure`` naming it, not retried: no other version is run in its place.
    """

    pinned_version: int | None = Field(default=None, description="Pin a model version (code or registered); "
                                                                  "default: current")

    def model(self) -> ModelVersion:
        from zk_pipeline.db import model_versions

        if not model_versions.installed():
            model_versions.install()
        try:
            return get_version(self.pinned_version)
        except (UnknownModelVersion, InvalidModelVersion) as exc:
            raise Failure(description=str(exc), allow_retries=False) from None


class ProverResource(ConfigurableResource):
    """Which provers run, in fallback order, and how hard each is tried."""

    backends: list[str] = Field(default=["builtin"], description="Fallback order, e.g. builtin,command")
    command: str | None = Field(default=None, description="Program for the 'command' backend ({statement}, {out})")
    timeout_s: float = Field(default=300.0, description="Per attempt; a prover past it is killed")
    max_attempts: int = Field(default=2, description="Attempts per backend before falling back")
    backoff_s: float = Field(default=2.0, description="First retry delay; doubles each retry")
    min_security_bits: int = Field(default=96, description="Proofs below this are refused")
    parallelism: int = Field(default=0, description="Provers kept busy at once over many hours; 0: one per core")

    def workers(self) -> int:
        """How many proofs of a range run at once: ``parallelism``, or one per core this process may use."""
        return self.parallelism or len(os.sched_getaffinity(0))

    def policy(self):
        from zk_pipeline.provers.orchestrator import RetryPolicy

        return RetryPolicy(max_attempts=self.max_attempts, backoff_s=self.backoff_s, timeout_s=self.timeout_s,
                           min_security_bits=self.min_security_bits)

    def build(self, on_start=None):
        from zk_pipeline.provers.registry import build_backends

        return build_backends(self.backends, command=self.command, on_start=on_start)

    def backend_named(self, name: str, on_start=None):
        """The backend that made a stored proof, to check it again (listed in ``backends`` or not)."""
        from zk_pipeline.provers.registry import build_backends

        return build_backends([name], command=self.command, on_start=on_start)[0]


class IntegrityResource(ConfigurableResource):
    """Herodotus Integrity's FactRegistry on Starknet: the on-chain check of Stone and Atlantic facts.

    Off unless a node is configured; the node URL comes from ``ZKP_INTEGRITY_RPC_URL`` as an
    ``EnvVar`` (it may carry an API key).
    """

    rpc_url: str | None = Field(default=None, description="Starknet JSON-RPC node for the look-up")
    network: str | None = Field(default=None, description="sepolia | mainnet: Integrity's FactRegistry there")
    fact_registry: str | None = Field(default=None, description="A FactRegistry address instead of the network's")
    timeout_s: float = Field(default=10.0, description="Per look-up")

    def registry(self):
        """The registry client, or None when no node is configured."""
        from zk_pipeline.facts.integrity import configured_registry

        return configured_registry(self.rpc_url, self.network, self.fact_registry, timeout_s=self.timeout_s)
