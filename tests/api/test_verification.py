"""Verification-state and fact-hash look-ups against a real PostgreSQL.

The records are written with the repository functions the prover orchestrator
uses, and the hashes are the real ones of a statement (no prover run needed).
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from zk_pipeline.db import proof_records
from zk_pipeline.db.models import ProofStatus
from zk_pipeline.db.session import session_scope
from zk_pipeline.facts.builtin import compute_facts
from zk_pipeline.risk.model import ProtocolSeries
from zk_pipeline.risk.params import ModelParams
from zk_pipeline.risk.statement import Statement

API = "/api/v1/verification"


def statement() -> Statement:
    p = ModelParams(volatility_window_hours=8, utilization_window_hours=2)
    s = ProtocolSeries(prices=tuple(10**10 + 997 * i for i in range(8)), volumes=(10**9, 2 * 10**9),
                       fees=(10**6, 10**6), tvl=10**12)
    return Statement(datetime(2026, 11, 20, 10, tzinfo=timezone.utc), 1, p, {"jediswap": s, "ekubo": s}).with_outputs()


@pytest.fixture()
def client(db_url):
    with TestClient(create_app(db_url)) as c:
        yield c


def add_job(url: str, verified: bool) -> tuple[str, dict]:
    st = statement()
    facts = compute_facts(st, 97).to_json()
    with session_scope(url) as s:
        job = proof_records.create_job(s, st, st.hour)
        if verified:
            job.proof_hash = proof_records.store_blob(s, b"proof bytes")
            job.status, job.security_bits, job.source = ProofStatus.verified, 97, "builtin"
            job.program_hash, job.output_hash, job.fact_hash = facts["program_hash"], facts["output_hash"], facts["fact_hash"]
            proof_records.record_fact(s, job.id, fact_hash=facts["fact_hash"], program_hash=facts["program_hash"],
                               output_hash=facts["output_hash"], verification_hash=facts["verification_hash"],
                               security_bits=97, verifier="local")
        return job.id, facts


def test_status_of_a_verified_job(client, db_url):
    job_id, facts = add_job(db_url, verified=True)
    r = client.get(f"{API}/verification-status/{job_id.upper()}")
    assert r.status_code == 200
    body = r.json()
    assert body["proof_job_id"] == job_id and body["status"] == "verified" and body["verified"] is True
    assert body["fact_hash"] == facts["fact_hash"] and body["security_bits"] == 97
    [record] = body["verifiers"]
    assert record["verifier"] == "local" and record["verification_hash"] == facts["verification_hash"]
    assert record["security_bits"] == 97 and record["proof_job_id"] == job_id
    assert record["verified_at"].endswith("Z")


def test_status_of_an_unverified_job(client, db_url):
    job_id, _ = add_job(db_url, verified=False)
    body = client.get(f"{API}/verification-status/{job_id}").json()
    assert body["status"] == "queued" and body["verified"] is False
    assert body["fact_hash"] is None and body["verifiers"] == []


def test_status_unknown_and_malformed(client):
    r = client.get(f"{API}/verification-status/00000000-0000-4000-8000-000000000000")
    assert r.status_code == 404 and "not found" in r.json()["detail"]
    assert client.get(f"{API}/verification-status/123").status_code == 422


def test_fact_hash_lookup(client, db_url):
    job_id, facts = add_job(db_url, verified=True)
    fact = facts["fact_hash"]
    r = client.get(f"{API}/verify-fact-hash/{fact}")
    assert r.status_code == 200
    body = r.json()
    assert body["fact_hash"] == fact and body["onchain"] is None and "no Starknet node" in body["note"]
    [record] = body["records"]
    assert record["verifier"] == "local" and record["proof_job_id"] == job_id
    assert record["program_hash"] == facts["program_hash"] and record["output_hash"] == facts["output_hash"]
    # Any case, and leading zeros, name the same felt.
    padded = "0X" + fact[2:].upper().rjust(64, "0")
    assert client.get(f"{API}/verify-fact-hash/{padded}").json()["fact_hash"] == fact


def test_fact_hash_lookup_errors(client):
    r = client.get(f"{API}/verify-fact-hash/0x1234")
    assert r.status_code == 404 and "no verification of fact 0x1234" in r.json()["detail"]
    for bad in ("1234", "0xZZ", "0x", "0x" + "1" * 65, "0x" + "f" * 64):  # the last one is above the Stark prime
        assert client.get(f"{API}/verify-fact-hash/{bad}").status_code == 422, bad


# -- with a Starknet node: Integrity's FactRegistry behind the JSON-RPC test double -------------------------------


def _registry_client(db_url, node):
    from zk_pipeline.facts.integrity import IntegrityRegistry

    return TestClient(create_app(db_url, integrity=IntegrityRegistry.for_network(node.url, "sepolia", timeout_s=3)))


def test_fact_lookup_reads_integritys_registry(db_url):
    from tests.sources.doubles import StarknetJsonRpcDouble
    from tests.sources.doubles import integrity_verification as element
    from zk_pipeline.facts.integrity import FACT_REGISTRY

    job_id, facts = add_job(db_url, verified=True)
    fact = int(facts["fact_hash"], 16)
    elsewhere = 0xFEED  # registered on chain, never proven here
    with StarknetJsonRpcDouble(block_number=99) as node, _registry_client(db_url, node) as client:
        node.add_integrity_registry(FACT_REGISTRY["sepolia"], {fact: [element(fact, 97)],
                                                              elsewhere: [element(elsewhere, 128)]})
        body = client.get(f"{API}/verify-fact-hash/{facts['fact_hash']}").json()
        assert [r["verifier"] for r in body["records"]] == ["local"]
        onchain = body["onchain"]
        assert onchain["block_number"] == 99 and onchain["network"] == "sepolia"
        [v] = onchain["verifications"]
        assert v["security_bits"] == 97 and v["consistent"] is True and v["layout"] == "recursive"
        only_chain = client.get(f"{API}/verify-fact-hash/0xfeed")
        assert only_chain.status_code == 200 and only_chain.json()["records"] == []
        assert only_chain.json()["onchain"]["verifications"][0]["security_bits"] == 128
        unknown = client.get(f"{API}/verify-fact-hash/0x1234")
        assert unknown.status_code == 404 and "holds no verification" in unknown.json()["detail"]


def test_fact_lookup_with_an_unreachable_node(db_url, monkeypatch):
    from tests.sources.doubles import StarknetJsonRpcDouble

    _, facts = add_job(db_url, verified=True)
    with StarknetJsonRpcDouble() as node:
        node.fail_methods.add("starknet_call")
        with _registry_client(db_url, node) as client:
            known = client.get(f"{API}/verify-fact-hash/{facts['fact_hash']}")
            assert known.status_code == 200 and "cannot read" in known.json()["onchain"]["error"]
            assert client.get(f"{API}/verify-fact-hash/0x1234").status_code == 502
    monkeypatch.setenv("ZKP_INTEGRITY_RPC_URL", "http://127.0.0.1:9/rpc")  # a node, but no network or registry
    with TestClient(create_app(db_url)) as client:
        r = client.get(f"{API}/verify-fact-hash/{facts['fact_hash']}")
        assert r.status_code == 503 and "ZKP_INTEGRITY_NETWORK" in r.json()["detail"]
