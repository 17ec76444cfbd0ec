"""Helpers shared by test modules."""

from __future__ import annotations

from zk_pipeline.resources import (
    DatabaseResource, IntegrityResource, MetricsSourceResource, ProverResource, RiskModelResource,
)


def pipeline_resources(url: str, prover: ProverResource | None = None, integrity: IntegrityResource | None = None,
                       **source) -> dict:
    """The Definitions' resources, pointed at a test database (in-process friendly settings)."""
    return {
        "database": DatabaseResource(url=url),
        "metrics_source": MetricsSourceResource(**source),
        "risk_model": RiskModelResource(),
        "prover": prover or ProverResource(backoff_s=0.1),
        "integrity": integrity or IntegrityResource(),
    }
