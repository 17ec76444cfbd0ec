"""Helpers shared by test modules."""

from __future__ import annotations

import os
import signal
import subprocess

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


def stop_process_group(proc: subprocess.Popen, grace_s: float = 30) -> None:
    """SIGTERM the process group ``proc`` leads (started with ``start_new_session``); SIGKILL it after
    ``grace_s``. A group that is already gone is left alone."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        proc.wait()
        return
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def proof_attempts(factory, job_id: str) -> list[tuple[str, str, str]]:
    """(backend, outcome, error) of every attempt of a proof job, in order."""
    from zk_pipeline.db import proof_records

    with factory() as s:
        return [(a.backend, a.outcome, a.error or "") for a in proof_records.attempts_of(s, job_id)]
