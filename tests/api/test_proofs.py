"""Proof endpoints against a real PostgreSQL and the real prover chain (child processes)."""

from __future__ import annotations

import copy
import hashlib
import json
import socket
import threading
import time
from datetime import datetime, timezone

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.routes.proofs import MAX_PROOF_BYTES, MAX_STATEMENT_BYTES, MultipartReader
from zk_pipeline.risk.model import ProtocolSeries
from zk_pipeline.risk.params import ModelParams
from zk_pipeline.risk.statement import Statement

API = "/api/v1/proofs"
SMALL = ModelParams(volatility_window_hours=32, utilization_window_hours=4)
HOUR = datetime(2026, 11, 20, 10, tzinfo=timezone.utc)


def small_statement(seed: int = 1) -> Statement:
    """A self-contained statement with short windows (custom params): proves in about a second."""
    def series(base: int, k: int) -> ProtocolSeries:
        return ProtocolSeries(prices=tuple(base + (i * 7919 * k * seed) % 100_000 for i in range(32)),
                              volumes=tuple(10**9 + i for i in range(4)), fees=tuple(10**6 + i for i in range(4)),
                              tvl=5 * 10**12)

    return Statement(HOUR, 1, SMALL, {"jediswap": series(3 * 10**12, 1), "ekubo": series(3 * 10**12 + 10**8, 3)})


@pytest.fixture()
def client(db_url):
    with TestClient(create_app(db_url)) as c:
        yield c


def wait_for(client: TestClient, job_id: str, until: set[str], timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(f"{API}/{job_id}").json()
        if body["status"] in until:
            return body
        assert time.monotonic() < deadline, f"job {job_id} still {body['status']} after {timeout}s: {body}"
        time.sleep(0.2)


def verify(client: TestClient, proof: bytes, statement: dict | bytes, as_file: bool = True):
    raw = statement if isinstance(statement, bytes) else json.dumps(statement).encode()
    if as_file:
        return client.post(f"{API}/verify", files={"proof": ("proof.bin", proof, "application/octet-stream"),
                                                    "statement": ("statement.json", raw, "application/json")})
    return client.post(f"{API}/verify", files={"proof": ("proof.bin", proof)}, data={"statement": raw.decode()})


def test_generate_poll_download_and_verify(client):
    st = small_statement()
    r = client.post(f"{API}/generate", json=st.to_dict())  # no outputs: the API computes them
    assert r.status_code == 202, r.text
    accepted = r.json()
    job_id = accepted["proof_job_id"]
    assert accepted["status"] == "queued" and accepted["reused"] is False
    assert accepted["status_url"] == f"{API}/{job_id}" == r.headers["location"]
    assert accepted["statement_hash"] == st.with_outputs().statement_hash()

    job = wait_for(client, job_id, {"verified", "failed", "rejected"})
    assert job["status"] == "verified", job
    assert job["source"] == "builtin" and job["last_error"] is None
    assert job["security_bits"] >= 96 and job["proof_size"] > 0
    assert job["timings"]["generation_time_ms"] > 0 and job["timings"]["verification_time_ms"] >= 0
    hashes = job["hashes"]
    assert hashes["statement_hash"] == accepted["statement_hash"]
    assert all(hashes[k].startswith("0x") and int(hashes[k], 16) > 0 for k in ("program_hash", "output_hash", "fact_hash"))
    assert hashes["l2_fact_hash"] is None and hashes["l2_verified_at"] is None
    assert [(a["backend"], a["attempt"], a["outcome"], a["error"]) for a in job["attempts"]] == [
        ("builtin", 1, "succeeded", None)]
    assert job["attempts"][0]["duration_ms"] >= 0
    assert job["hour"] == "2026-11-20T10:00:00Z" and job["model_version"] == 1
    assert job["proof_url"] == f"{API}/{job_id}/proof"

    # Download: bytes, a file name, and the content hash as ETag.
    dl = client.get(job["proof_url"])
    assert dl.status_code == 200
    proof = dl.content
    assert dl.headers["content-type"] == "application/octet-stream"
    assert f'filename="proof-{job_id}.bin"' in dl.headers["content-disposition"]
    assert dl.headers["etag"] == f'"{hashes["proof_hash"]}"' == f'"{hashlib.sha256(proof).hexdigest()}"'
    assert len(proof) == job["proof_size"]
    assert client.get(job["proof_url"], headers={"If-None-Match": dl.headers["etag"]}).status_code == 304
    statement = client.get(job["statement_url"]).json()
    assert statement == st.with_outputs().to_dict()

    # Stateless verification of the downloaded bytes, statement as a file and as a form field.
    for as_file in (True, False):
        v = verify(client, proof, statement, as_file)
        assert v.status_code == 200, v.text
        assert v.json()["valid"] is True and v.json()["reason"] == "ok"
        assert v.json()["fact_hash"] == hashes["fact_hash"]
        assert v.json()["security_bits"] == job["security_bits"] and v.json()["proof_bytes"] == len(proof)
        assert v.json()["proof_hash"] == hashes["proof_hash"]

    # One input price + 1: the proof no longer proves the statement.
    changed = copy.deepcopy(statement)
    changed["protocols"]["ekubo"]["prices"][5] += 1
    v = verify(client, proof, changed)
    assert v.status_code == 200
    assert v.json()["valid"] is False and v.json()["reason"] and v.json()["fact_hash"] is None
    # A changed claimed output: likewise.
    changed = copy.deepcopy(statement)
    changed["outputs"]["allocation"]["jediswap_bps"] += 1
    changed["outputs"]["allocation"]["ekubo_bps"] -= 1
    assert verify(client, proof, changed).json()["valid"] is False

    # The same statement again (with or without its outputs) reuses the verified job: 200, nothing re-proven.
    for body in (st.to_dict(), statement):
        again = client.post(f"{API}/generate", json=body)
        assert again.status_code == 200, again.text
        assert again.json()["proof_job_id"] == job_id and again.json()["reused"] is True
        assert again.json()["status"] == "verified"
    assert len(client.get(f"{API}/{job_id}").json()["attempts"]) == 1


def test_verify_refuses_bad_uploads(client):
    statement = small_statement(seed=2).with_outputs().to_dict()
    # Bytes that do not decode as a proof: 422 with the decoder's reason.
    r = verify(client, b"\x00garbage" * 50, statement)
    assert r.status_code == 422 and "undecodable proof" in r.json()["detail"]
    # Statement problems: the StatementError reason.
    r = verify(client, b"x", b"{not json")
    assert r.status_code == 422 and "not valid JSON" in r.json()["detail"]
    r = verify(client, b"x", b"\xff\xfe{}")
    assert r.status_code == 422 and "invalid statement" in r.json()["detail"]
    bad = copy.deepcopy(statement)
    bad["protocols"]["jediswap"]["prices"] = bad["protocols"]["jediswap"]["prices"][:-1]
    r = verify(client, b"x", bad)
    assert r.status_code == 422 and "jediswap" in r.json()["detail"] and "31 prices" in r.json()["detail"]
    no_outputs = {k: v for k, v in statement.items() if k != "outputs"}
    r = verify(client, b"x", no_outputs)
    assert r.status_code == 422 and "outputs" in r.json()["detail"]
    # Fields.
    r = client.post(f"{API}/verify", files={"proof": ("p.bin", b"x")})
    assert r.status_code == 422 and "statement" in r.json()["detail"]
    r = client.post(f"{API}/verify", files={"proof": ("p.bin", b"x"), "extra": ("e", b"y")})
    assert r.status_code == 422 and "unexpected field 'extra'" in r.json()["detail"]
    r = client.post(f"{API}/verify", json=statement)
    assert r.status_code == 415
    # Size limits: 413 with the reason.
    r = verify(client, b"\x00" * (MAX_PROOF_BYTES + 1), statement)
    assert r.status_code == 413 and "'proof'" in r.json()["detail"]
    r = verify(client, b"x", b" " * (MAX_STATEMENT_BYTES + 1))
    assert r.status_code == 413 and "'statement'" in r.json()["detail"]
    r = client.post(f"{API}/verify", content=b"", headers={
        "content-type": "multipart/form-data; boundary=abc", "content-length": str(64 * 1024 * 1024)})
    assert r.status_code == 413 and "limit" in r.json()["detail"]


def test_multipart_reader_is_streaming():
    """Fed one byte at a time the reader gives the same parts, and refuses a part as soon as it is too big."""
    body = (b"preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"proof\"; filename=\"a b.bin\"\r\n"
            b"Content-Type: application/octet-stream\r\n\r\n\r\n--Xy\r\n--X\r\nyZ\x00\xff\r\n"
            b"--XyZ\r\nContent-Disposition: form-data; name=statement\r\n\r\n{}\r\n--XyZ--\r\nepilogue")
    reader = MultipartReader("XyZ", {"proof": 100, "statement": 100})
    for i in range(len(body)):
        reader.feed(body[i:i + 1])
    parts = reader.close()
    assert bytes(parts["proof"].data) == b"\r\n--Xy\r\n--X\r\nyZ\x00\xff" and parts["proof"].filename == "a b.bin"
    assert bytes(parts["statement"].data) == b"{}"

    from fastapi import HTTPException

    reader = MultipartReader("XyZ", {"proof": 10})
    reader.feed(b"--XyZ\r\nContent-Disposition: form-data; name=\"proof\"\r\n\r\n" + b"a" * 16)
    with pytest.raises(HTTPException) as err:
        reader.feed(b"a")  # 17 bytes seen, 6 held back (a delimiter could start there): 11 > 10
    assert err.value.status_code == 413
    with pytest.raises(HTTPException) as err:
        MultipartReader("XyZ", {"proof": 10}).close()
    assert err.value.status_code == 422


def test_oversize_upload_is_refused_before_it_is_read(live_server):
    """Over a real socket, chunked: the 413 arrives while the body is still being sent.

    The body never ends (no closing boundary, no last chunk), so an answer at all
    proves the server did not wait for the whole upload.
    """
    head = b"--B\r\nContent-Disposition: form-data; name=\"proof\"; filename=\"p\"\r\n\r\n"
    chunk = b"\x00" * 65536
    answer, answered = bytearray(), threading.Event()
    with socket.create_connection(live_server, timeout=1) as conn:

        def read() -> None:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and b"}" not in answer:
                try:
                    data = conn.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    break
                if not data:
                    break
                answer.extend(data)
            answered.set()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        conn.sendall(b"POST /api/v1/proofs/verify HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
                     b"Content-Type: multipart/form-data; boundary=B\r\n\r\n" + b"%x\r\n%s\r\n" % (len(head), head))
        sent, limit = 0, 64 * 1024 * 1024
        while not answered.is_set() and sent < limit:
            try:
                conn.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            except OSError:  # the server answered and closed, or stopped reading
                break
            sent += len(chunk)
        answered.wait(20)
    assert bytes(answer).startswith(b"HTTP/1.1 413"), bytes(answer[:200])
    assert b"'proof' exceeds the limit" in answer
    assert sent < limit


def test_generate_refuses_bad_requests(client):
    st = small_statement().to_dict()
    bad = copy.deepcopy(st)
    bad["protocols"]["ekubo"]["volumes"] = [1, 2]
    r = client.post(f"{API}/generate", json=bad)
    assert r.status_code == 422 and "ekubo" in r.json()["detail"] and "volumes" in r.json()["detail"]
    r = client.post(f"{API}/generate", json={**st, "hour": "2026-11-20T10:30:00Z"})
    assert r.status_code == 422 and "hour boundary" in r.json()["detail"]
    wrong = small_statement().with_outputs().to_dict()
    wrong["outputs"]["allocation"]["jediswap_bps"] += 1
    r = client.post(f"{API}/generate", json=wrong)
    assert r.status_code == 422 and "claimed outputs differ" in r.json()["detail"]
    r = client.post(f"{API}/generate", content=b"{nope", headers={"content-type": "application/json"})
    assert r.status_code == 422 and "not valid JSON" in r.json()["detail"]
    assert client.post(f"{API}/generate", json=[1, 2]).status_code == 422
    r = client.post(f"{API}/generate", json={"partition_key": "2026-11-20 10:00"})
    assert r.status_code == 422 and "partition_key" in r.json()["detail"]
    r = client.post(f"{API}/generate", json={"partition_key": "2026-11-20-10:00", "hour": "x"})
    assert r.status_code == 422 and "not both" in r.json()["detail"]
    # An hour the pipeline has not materialized (reuse of a materialized hour: test_orchestrate.py).
    r = client.post(f"{API}/generate", json={"partition_key": "2026-11-20-11:00"})
    assert r.status_code == 404 and "no allocation proposal for 2026-11-20-11:00" in r.json()["detail"]
    r = client.post(f"{API}/generate", content=b" " * (MAX_STATEMENT_BYTES + 1),
                    headers={"content-type": "application/json"})
    assert r.status_code == 413
    # Unknown or malformed job ids.
    missing = "00000000-0000-4000-8000-000000000000"
    for path in (f"{API}/{missing}", f"{API}/{missing}/proof", f"{API}/{missing}/statement"):
        assert client.get(path).status_code == 404
    # Only UUID-shaped ids reach the job routes: anything else names no resource.
    assert client.get(f"{API}/not-a-uuid").status_code == 404
    assert client.get(f"{API}/not-a-uuid/proof").status_code == 404
    # So "verify" is the verify route's path, which only takes POST.
    for method in ("GET", "OPTIONS", "PUT"):
        r = client.request(method, f"{API}/verify")
        assert r.status_code == 405 and r.headers["allow"] == "POST", (method, r.status_code, r.headers)


def test_failing_prover_is_visible(client, monkeypatch, tmp_path):
    secret = "sk-live-0123456789abcdef"
    script = tmp_path / "broken-prover"
    script.write_text("#!/bin/sh\necho \"prover crashed; token $ZKP_TEST_API_KEY\" >&2\nexit 3\n")
    script.chmod(0o755)
    monkeypatch.setenv("ZKP_TEST_API_KEY", secret)
    monkeypatch.setenv("ZKP_PROVERS", "command")
    monkeypatch.setenv("ZKP_PROVER_COMMAND", f"{script} {{statement}} {{out}}")
    monkeypatch.setenv("ZKP_PROVER_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("ZKP_PROVER_BACKOFF_S", "0.01")

    r = client.post(f"{API}/generate", json=small_statement(seed=3).to_dict())
    assert r.status_code == 202, r.text
    job = wait_for(client, r.json()["proof_job_id"], {"verified", "failed", "rejected"}, timeout=30)
    assert job["status"] == "failed"
    assert [(a["backend"], a["attempt"], a["outcome"]) for a in job["attempts"]] == [
        ("command", 1, "failed"), ("command", 2, "failed")]
    for a in job["attempts"]:
        assert "exited with status 3" in a["error"] and "prover crashed" in a["error"]
    assert "exited with status 3" in job["last_error"]
    assert job["proof_url"] is None and job["hashes"]["proof_hash"] is None
    dl = client.get(f"{API}/{job['proof_job_id']}/proof")
    assert dl.status_code == 404 and "has no proof (status failed)" in dl.json()["detail"]
    text = client.get(f"{API}/{job['proof_job_id']}").text
    assert secret not in text and "***" in text

    # An unknown backend name is a configuration error, not a job.
    monkeypatch.setenv("ZKP_PROVERS", "nope")
    r = client.post(f"{API}/generate", json=small_statement(seed=4).to_dict())
    assert r.status_code == 503 and "unknown prover backend" in r.json()["detail"]


# ------------------------------------------------------- interrupted jobs


def _job_state(db_url: str, job_id: str) -> tuple:
    from zk_pipeline.db import proofs as proof_records
    from zk_pipeline.db.session import session_factory

    with session_factory(db_url)() as s:
        job = proof_records.get_job(s, job_id)
        attempts = [(a.backend, a.attempt, a.outcome, a.error, a.finished_at)
                    for a in proof_records.attempts_of(s, job_id)]
        return job.status.value, job.origin, job.attempts, job.last_error, job.updated_at, attempts


def _pipeline_jobs(db_url: str) -> tuple[str, str]:
    """A queued and a running job as Dagster's ``prove_statement_job``/``run_job`` leave them mid-proof."""
    from zk_pipeline.db import proofs as proof_records
    from zk_pipeline.db.session import session_factory

    factory = session_factory(db_url)
    with factory.begin() as s:
        queued = proof_records.create_job(s, small_statement(seed=13).with_outputs(), HOUR).id
        running = proof_records.create_job(s, small_statement(seed=14).with_outputs(), HOUR).id
    with factory.begin() as s:
        proof_records.start_attempt(s, running, "builtin")
    return queued, running


def test_jobs_of_a_killed_api_are_finished_at_its_next_start(db_url, tmp_path, monkeypatch):
    """A real API process is killed (SIGKILL) with one job running and one queued; the next start proves both.

    Jobs of the pipeline path, queued or running at the same time, are left exactly as they are.
    """
    import httpx

    from api.routes.proofs import INTERRUPTED
    from tests.api.conftest import SlowProver, api_process, serve

    prover = SlowProver(tmp_path)
    env = {"DATABASE_URL": db_url, "ZKP_API_PROOF_WORKERS": "1", **prover.env}
    log_path = tmp_path / "api.log"
    try:
        with api_process(env, log_path) as (api, base), httpx.Client(base_url=base, timeout=10) as http:
            ids = []
            for seed in (11, 12):
                r = http.post(f"{API}/generate", json=small_statement(seed=seed).to_dict())
                assert r.status_code == 202, r.text
                ids.append(r.json()["proof_job_id"])
            running_id, queued_id = ids
            prover.wait_started(log_path)  # the prover is at work
            api.kill()
            api.wait(10)
    finally:
        prover.kill()

    # What the killed API left behind.
    status, origin, n, _, _, attempts = _job_state(db_url, running_id)
    assert (status, origin, n) == ("running", "api", 1)
    assert [a[:4] for a in attempts] == [("command", 1, "running", None)]
    status, origin, n, _, _, attempts = _job_state(db_url, queued_id)
    assert (status, origin, n, attempts) == ("queued", "api", 0, [])
    pipeline = _pipeline_jobs(db_url)
    before = {job_id: _job_state(db_url, job_id) for job_id in pipeline}

    monkeypatch.setenv("ZKP_PROVERS", "builtin")
    monkeypatch.delenv("ZKP_PROVER_COMMAND", raising=False)
    with serve(db_url) as (host, port), httpx.Client(base_url=f"http://{host}:{port}", timeout=10) as http:
        done = {job_id: wait_for(http, job_id, {"verified", "failed", "rejected"}) for job_id in (running_id, queued_id)}
    job = done[running_id]
    assert job["status"] == "verified", job
    assert [(a["backend"], a["attempt"], a["outcome"], a["error"]) for a in job["attempts"]] == [
        ("command", 1, "failed", INTERRUPTED), ("builtin", 2, "succeeded", None)]
    assert job["attempts"][0]["finished_at"] is not None
    assert job["source"] == "builtin" and job["origin"] == "api" and job["last_error"] is None and job["proof_url"]
    job = done[queued_id]
    assert job["status"] == "verified", job
    assert [(a["backend"], a["attempt"], a["outcome"], a["error"]) for a in job["attempts"]] == [
        ("builtin", 1, "succeeded", None)]
    assert job["source"] == "builtin"
    # The pipeline's jobs: not a field changed (a Dagster run may be proving them right now).
    assert {job_id: _job_state(db_url, job_id) for job_id in pipeline} == before
    assert before[pipeline[0]][:2] == ("queued", "pipeline") and before[pipeline[1]][:2] == ("running", "pipeline")


def test_recovery_leaves_jobs_this_process_holds_and_finished_jobs_alone(db_url):
    """Only unfinished ``api`` jobs nobody here holds: not one in this process's queue, not a failed one."""
    from api.routes.proofs import create_api_job, recover_interrupted_jobs, workers
    from zk_pipeline.db.models import ProofStatus
    from zk_pipeline.db.session import session_factory
    from zk_pipeline.db.urls import with_psycopg2

    url = with_psycopg2(db_url)
    factory = session_factory(url)
    with factory.begin() as s:
        held = create_api_job(s, small_statement(seed=15).with_outputs(), HOUR)
        failed = create_api_job(s, small_statement(seed=16).with_outputs(), HOUR)
        failed.status, failed.last_error = ProofStatus.failed, "no backend ran"
        held_id, held_hash, failed_id = held.id, held.statement_hash, failed.id
    before = {job_id: _job_state(db_url, job_id) for job_id in (held_id, failed_id)}
    with workers.lock():
        workers._in_flight[(url, held_hash)] = held_id  # as submit() records a job it queued
    try:
        assert recover_interrupted_jobs(url) == []
    finally:
        with workers.lock():
            workers.forget(url, held_hash)
    assert {job_id: _job_state(db_url, job_id) for job_id in (held_id, failed_id)} == before
