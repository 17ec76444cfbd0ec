"""Verification-state and fact-hash look-ups against a real PostgreSQL.

The records are written with the repository functions the prover orchestrator
uses, and the hashes are the real ones of a statement (no prover run needed).
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from zk_pipeline.db import proofs
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
        job = proofs.create_job(s, st, st.hour)
        if verified:
            job.proof_hash = proofs.store_blob(s, b"proof bytes")
            job.status, job.security_bits, job.source = ProofStatus.verified, 97, "builtin"
            job.program_hash, job.output_hash, job.fact_hash = facts["program_hash"], facts["output_hash"], facts["fact_hash"]
            proofs.record_fact(s, job.id, fact_hash=facts["fact_hash"], program_hash=facts["program_hash"],
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
    assert body["fact_hash"] == fact and body["onchain"] is None and "on-chain" in body["note"]
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
