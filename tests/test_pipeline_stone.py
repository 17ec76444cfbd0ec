"""The asset graph with the Stone backend: a Stone proof carries a decision through every check.

cairo-run is the real one (the Cairo program really executes on the hour's
statement); ``cpu_air_prover`` / ``cpu_air_verifier`` are the named test
doubles of ``tests/provers/doubles.py`` (no Stone binaries can be installed
here), so what is exercised is everything around them: the proof job, the
blocking ``proof_verifies`` check re-verifying the stored bytes with the
Stone verifier, ``verified_fact`` recomputing Integrity's fact from the stored
proof's public memory, and the decision.
"""

from __future__ import annotations

import json

from dagster import AssetKey, materialize
from sqlalchemy import select

from tests.helpers import pipeline_resources
from tests.provers import doubles
from zk_pipeline.db import proofs as proof_records
from zk_pipeline.db.models import AllocationDecision, ProofAttempt, ProofJob
from zk_pipeline.db.session import session_scope
from zk_pipeline.definitions import all_assets
from zk_pipeline.facts import stone as stone_facts
from zk_pipeline.resources import ProverResource

PARTITION = "2026-11-21-09:00"


def _stone_env(monkeypatch, tmp_path, verifier_mode: str = "check") -> None:
    monkeypatch.setenv("ZKP_STONE_CAIRO_RUN", doubles.cairo_run_or_fail())
    monkeypatch.setenv("ZKP_STONE_PROVER", str(doubles.write_fake_cpu_air_prover(tmp_path)))
    monkeypatch.setenv("ZKP_STONE_VERIFIER", str(doubles.write_fake_cpu_air_verifier(tmp_path, mode=verifier_mode)))
    monkeypatch.setenv("ZKP_CAIRO_CACHE", str(doubles.compile_cache()))


def _run(db_url, instance, backends):
    prover = ProverResource(backends=backends, backoff_s=0.01, max_attempts=1)
    return materialize(all_assets, partition_key=PARTITION, resources=pipeline_resources(db_url, prover=prover),
                       instance=instance, raise_on_error=False)


def test_a_stone_proof_carries_the_decision(db_url, dagster_instance, monkeypatch, tmp_path):
    _stone_env(monkeypatch, tmp_path)
    result = _run(db_url, dagster_instance, ["stone"])
    assert result.success
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert checks["proof_verifies"].passed
    assert checks["proof_verifies"].metadata["verified_with"].value == "stone"

    with session_scope(db_url) as s:
        (decision,) = s.scalars(select(AllocationDecision)).all()
        job = s.get(ProofJob, decision.proof_job_id)
        blob = proof_records.load_blob(s, job.proof_hash)
        facts = {f.verifier: f for f in proof_records.facts_by_hash(s, job.fact_hash)}
        assert job.source == "stone" and job.status.value == "verified"
        assert job.details["layout"] and job.details["fact_hash"] == job.fact_hash
    # The recorded fact is Integrity's fact of the stored Stone proof, verified on this machine.
    expected = stone_facts.compute_facts(stone_facts.parse_stone_proof(json.loads(blob)), "strict").to_json()
    assert (job.program_hash, job.output_hash, job.fact_hash) == (
        expected["program_hash"], expected["output_hash"], expected["fact_hash"])
    assert set(facts) == {"local"} and facts["local"].security_bits == expected["security_bits"]

    fact_md = dagster_instance.get_latest_materialization_event(AssetKey("verified_fact")).asset_materialization.metadata
    assert fact_md["fact_hash"].value == job.fact_hash and fact_md["prover"].value == "stone"


def test_a_rejecting_stone_verifier_falls_back_to_the_builtin_prover(db_url, dagster_instance, monkeypatch, tmp_path):
    _stone_env(monkeypatch, tmp_path, verifier_mode="reject")
    result = _run(db_url, dagster_instance, ["stone", "builtin"])
    assert result.success
    with session_scope(db_url) as s:
        (decision,) = s.scalars(select(AllocationDecision)).all()
        job = s.get(ProofJob, decision.proof_job_id)
        attempts = s.scalars(select(ProofAttempt).where(ProofAttempt.job_id == job.id).order_by(ProofAttempt.id)).all()
    assert job.source == "builtin"
    assert [(a.backend, a.outcome) for a in attempts] == [("stone", "rejected"), ("builtin", "succeeded")]
    assert "invalid FRI last layer" in attempts[0].error
