"""The asset graph with the real Stone: a Stone proof carries a decision through every check.

Everything is real: cairo-run executes the Cairo program on the hour's
statement (model v1, 2**16 steps), StarkWare's ``cpu_air_prover`` proves it
and ``cpu_air_verifier`` checks it, in the proof job and again in the blocking
``proof_verifies`` check; ``verified_fact`` recomputes Integrity's fact from
the stored proof's public memory. The statement is the same in every test,
so the prover really runs once per session and later runs get that same
proof back (``doubles.write_replaying_cpu_air_prover``). Without Stone the
tests are SKIPPED, saying how to install it (``make stone``).
"""

from __future__ import annotations

import json

import pytest

from dagster import AssetKey, materialize
from sqlalchemy import select

from tests.helpers import pipeline_resources
from tests.provers import doubles
from zk_pipeline import cairo
from zk_pipeline.db import proof_records
from zk_pipeline.db.models import AllocationDecision, ProofAttempt, ProofJob
from zk_pipeline.db.session import session_scope
from zk_pipeline.definitions import all_assets
from zk_pipeline.facts import stone as stone_facts
from zk_pipeline.resources import ProverResource

PARTITION = "2026-11-21-09:00"


def _stone_env(monkeypatch, tmp_path) -> None:
    prover, verifier = doubles.stone_or_skip()
    monkeypatch.setenv("ZKP_STONE_CAIRO_RUN", doubles.cairo_run_or_fail())
    monkeypatch.setenv("ZKP_STONE_PROVER", str(doubles.write_replaying_cpu_air_prover(tmp_path, prover)))
    monkeypatch.setenv("ZKP_STONE_VERIFIER", verifier)
    monkeypatch.setenv("ZKP_CAIRO_CACHE", str(doubles.compile_cache()))


def _run(db_url, instance, backends):
    prover = ProverResource(backends=backends, backoff_s=0.01, max_attempts=1, timeout_s=900)
    return materialize(all_assets, partition_key=PARTITION, resources=pipeline_resources(db_url, prover=prover),
                       instance=instance, raise_on_error=False)


@pytest.mark.slow
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
        assert job.details["layout"] == "small" and job.details["n_steps"] == 2**16
        assert job.details["fact_hash"] == job.fact_hash and job.details["security_bits"] == 96
    # The recorded fact is Integrity's fact of the stored Stone proof, verified on this machine.
    proof = json.loads(blob)
    assert proof["proof_hex"] and proof["annotations"]  # Stone's own proof JSON
    expected = stone_facts.compute_facts(stone_facts.parse_stone_proof(proof), "strict").to_json()
    assert (job.program_hash, job.output_hash, job.fact_hash) == (
        expected["program_hash"], expected["output_hash"], expected["fact_hash"])
    assert set(facts) == {"local"} and facts["local"].security_bits == expected["security_bits"]

    fact_md = dagster_instance.get_latest_materialization_event(AssetKey("verified_fact")).asset_materialization.metadata
    assert fact_md["fact_hash"].value == job.fact_hash and fact_md["prover"].value == "stone"


@pytest.mark.slow
def test_a_failing_stone_falls_back_to_the_builtin_prover(db_url, dagster_instance, monkeypatch, tmp_path):
    """The real cpu_air_prover aborts (a parameter file it cannot use); the hour is proven by the built-in prover."""
    _stone_env(monkeypatch, tmp_path)
    params = json.loads(cairo.DEFAULT_PARAMS_FILE.read_text())
    params["commitment_hash"] = "no_such_hash"
    (tmp_path / "bad_params.json").write_text(json.dumps(params))
    monkeypatch.setenv("ZKP_STONE_PARAMS", str(tmp_path / "bad_params.json"))
    result = _run(db_url, dagster_instance, ["stone", "builtin"])
    assert result.success
    with session_scope(db_url) as s:
        (decision,) = s.scalars(select(AllocationDecision)).all()
        job = s.get(ProofJob, decision.proof_job_id)
        attempts = s.scalars(select(ProofAttempt).where(ProofAttempt.job_id == job.id).order_by(ProofAttempt.id)).all()
    assert job.source == "builtin" and job.status.value == "verified"
    assert [(a.backend, a.outcome) for a in attempts] == [("stone", "failed"), ("builtin", "succeeded")]
    assert "cpu_air_prover: killed by signal 6" in attempts[0].error and "Unexpected type" in attempts[0].error


# -- the on-chain check: Integrity's FactRegistry behind a JSON-RPC test double ---------------------------------


def _registry_answering(node, facts_with_bits):
    """The double's FactRegistry: ``facts_with_bits(fact) -> [security bits, ...]`` of Integrity-hashed records."""
    from tests.sources.doubles import integrity_verification
    from zk_pipeline.facts.integrity import FACT_REGISTRY

    node.add_integrity_registry(FACT_REGISTRY["sepolia"],
                                lambda fact: [integrity_verification(fact, b) for b in facts_with_bits(fact)])


def _run_with_registry(db_url, instance, url):
    from zk_pipeline.resources import IntegrityResource

    prover = ProverResource(backends=["stone"], backoff_s=0.01, max_attempts=1, timeout_s=900)
    resources = pipeline_resources(db_url, prover=prover,
                                   integrity=IntegrityResource(rpc_url=url, network="sepolia", timeout_s=3))
    return materialize(all_assets, partition_key=PARTITION, resources=resources, instance=instance,
                       raise_on_error=False)


def _fact_metadata(instance):
    return instance.get_latest_materialization_event(AssetKey("verified_fact")).asset_materialization.metadata


@pytest.mark.slow
def test_a_stone_fact_found_on_chain_is_recorded(db_url, dagster_instance, monkeypatch, tmp_path):
    from tests.sources.doubles import StarknetJsonRpcDouble

    _stone_env(monkeypatch, tmp_path)
    with StarknetJsonRpcDouble(block_number=4242) as node:
        asked = []
        _registry_answering(node, lambda fact: asked.append(fact) or [96])
        result = _run_with_registry(db_url, dagster_instance, node.url)
    assert result.success
    with session_scope(db_url) as s:
        (decision,) = s.scalars(select(AllocationDecision)).all()
        job = s.get(ProofJob, decision.proof_job_id)
        facts = {f.verifier: f for f in proof_records.facts_by_hash(s, job.fact_hash)}
    assert asked == [int(job.fact_hash, 16)]  # the registry was asked for exactly the recomputed fact
    assert set(facts) == {"local", "onchain"} and facts["onchain"].security_bits == 96
    assert job.l2_fact_hash == job.fact_hash and job.l2_verified_at is not None
    md = _fact_metadata(dagster_instance)
    assert "registered" in md["integrity_onchain"].value and "block 4242" in md["integrity_onchain"].value
    assert md["verifiers"].value == "local, onchain"


@pytest.mark.slow
def test_a_stone_fact_missing_on_chain_or_an_unreachable_node_still_decides(db_url, dagster_instance, monkeypatch,
                                                                             tmp_path):
    """The proof was verified here; the registry not holding it (or not answering) is reported, not fatal."""
    from tests.sources.doubles import StarknetJsonRpcDouble, closed_port_url

    _stone_env(monkeypatch, tmp_path)
    with StarknetJsonRpcDouble() as node:
        _registry_answering(node, lambda fact: [])
        assert _run_with_registry(db_url, dagster_instance, node.url).success
    assert _fact_metadata(dagster_instance)["integrity_onchain"].value.startswith("not registered")
    assert _run_with_registry(db_url, dagster_instance, closed_port_url("/rpc/SECRETKEY123456789")).success
    note = _fact_metadata(dagster_instance)["integrity_onchain"].value
    assert note.startswith("look-up failed") and "SECRETKEY123456789" not in note
    with session_scope(db_url) as s:
        assert {f.verifier for f in s.scalars(select(proof_records.VerifiedFact))} == {"local"}


def test_an_atlantic_claim_the_registry_does_not_hold_fails(db_url):
    """Atlantic says it registered the fact; Integrity's registry on the chain says otherwise."""
    from dagster import Failure, get_dagster_logger

    from tests.sources.doubles import StarknetJsonRpcDouble
    from zk_pipeline.assets.proving import _onchain_check
    from zk_pipeline.resources import IntegrityResource

    with session_scope(db_url) as s:
        job = ProofJob(id="00000000-0000-0000-0000-00000000a71c", status="verified", statement_hash="ab" * 32,
                       statement={}, model_version=1, model_hash="0x1", attempts=1, origin="pipeline",
                       source="atlantic", fact_hash="0x123", program_hash="0x1", output_hash="0x2",
                       l2_fact_hash="0x123")
        s.add(job)
        s.flush()
        with StarknetJsonRpcDouble() as node:
            _registry_answering(node, lambda fact: [])
            integrity = IntegrityResource(rpc_url=node.url, network="sepolia")
            with pytest.raises(Failure, match="Atlantic reported fact 0x123 as registered"):
                _onchain_check(integrity, s, job, 96, get_dagster_logger())
            _registry_answering(node, lambda fact: [100])
            assert "registered" in _onchain_check(integrity, s, job, 96, get_dagster_logger())
        assert {f.verifier for f in proof_records.facts_by_hash(s, "0x123")} == {"onchain"}
