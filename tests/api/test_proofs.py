"""Proof endpoints against a real PostgreSQL, a real Dagster instance and the real prover chain.

``POST /proofs/generate`` only records a job; the proofs here are made the way the
daemon makes them: ``proof_requests_sensor`` evaluated on the instance, its run of
``proof_request_job`` executed (``tests/api/dagster_work.py``).
"""

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
from tests.api.dagster_work import evaluate, take_up_proof_requests
from zk_pipeline.resources import ProverResource
from api.routes.proofs import MAX_PROOF_BYTES, MAX_STATEMENT_BYTES
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


def prove_requested(client: TestClient, instance, db_url: str, job_id: str, resources: dict | None = None) -> dict:
    """What the daemon does with a recorded request: one run of ``proof_request_job``; the job afterwards."""
    runs = take_up_proof_requests(instance, db_url, resources)
    assert [r.dagster_run.tags["zkp/proof_job_id"] for r in runs] == [job_id]
    return client.get(f"{API}/{job_id}").json()


def verify(client: TestClient, proof: bytes, statement: dict | bytes, as_file: bool = True):
    raw = statement if isinstance(statement, bytes) else json.dumps(statement).encode()
    if as_file:
        return client.post(f"{API}/verify", files={"proof": ("proof.bin", proof, "application/octet-stream"),
                                                    "statement": ("statement.json", raw, "application/json")})
    return client.post(f"{API}/verify", files={"proof": ("proof.bin", proof)}, data={"statement": raw.decode()})


def test_generate_poll_download_and_verify(client, dagster_instance, db_url):
    st = small_statement()
    r = client.post(f"{API}/generate", json=st.to_dict())  # no outputs: the API computes them
    assert r.status_code == 202, r.text
    accepted = r.json()
    job_id = accepted["proof_job_id"]
    assert accepted["status"] == "queued" and accepted["reused"] is False
    assert accepted["status_url"] == f"{API}/{job_id}" == r.headers["location"]
    assert accepted["statement_hash"] == st.with_outputs().statement_hash()

    # Recorded, not proven: the API does no work of its own.
    assert client.get(f"{API}/{job_id}").json()["status"] == "queued"
    again = client.post(f"{API}/generate", json=st.to_dict())  # asked again before Dagster took it up: joined
    assert (again.status_code, again.json()["proof_job_id"], again.json()["reused"]) == (202, job_id, True)
    job = prove_requested(client, dagster_instance, db_url, job_id)
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
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "statement"]
    r = client.post(f"{API}/verify", files={"proof": ("p.bin", b"x"), "statement": ("s", b"{}"), "extra": ("e", b"y")})
    assert r.status_code == 422 and "unexpected field 'extra'" in r.json()["detail"]
    r = client.post(f"{API}/verify", json=statement)
    assert r.status_code == 415
    # A multipart body that does not parse: the documented 422 with the parser's reason, not Starlette's 400.
    r = client.post(f"{API}/verify", content=b"--b\r\nNone--b--\r\n",
                    headers={"content-type": "multipart/form-data; boundary=b"})
    assert r.status_code == 422 and r.json()["detail"].startswith("malformed multipart body"), r.text
    # Size limits: 413 with the reason.
    r = verify(client, b"\x00" * (MAX_PROOF_BYTES + 1), statement)
    assert r.status_code == 413 and "'proof'" in r.json()["detail"]
    r = verify(client, b"x", b" " * (MAX_STATEMENT_BYTES + 1))
    assert r.status_code == 413 and "'statement'" in r.json()["detail"]
    r = client.post(f"{API}/verify", content=b"", headers={
        "content-type": "multipart/form-data; boundary=abc", "content-length": str(64 * 1024 * 1024)})
    assert r.status_code == 413 and "limit" in r.json()["detail"]


def test_oversize_upload_is_refused_before_it_is_read(live_server):
    """Over a real socket, chunked: the 413 arrives while the body is still being sent.

    The body never ends (no closing boundary, no last chunk), so an answer at all
    proves the server did not wait for the whole upload.
    """
    head = b"--B\r\nContent-Disposition: form-data; name=\"proof\"; filename=\"p\"\r\n\r\n"
    chunk = b"\x00" * 65536
    answer, answered, reset = bytearray(), threading.Event(), []
    with socket.create_connection(live_server, timeout=1) as conn:

        def read() -> None:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and b"}" not in answer:
                try:
                    data = conn.recv(65536)
                except TimeoutError:
                    continue
                except OSError as exc:
                    reset.append(exc)
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
    # The server stops reading at its limit (about 12 MiB): far less than the 64 MiB offered.
    assert sent < 32 * 1024 * 1024, sent
    if not answer and reset:
        # It answered and closed with the rest of the upload unread, and the kernel's reset beat this
        # thread to the answer (a loaded machine): the upload was still cut short, which is the point.
        return
    assert bytes(answer).startswith(b"HTTP/1.1 413"), (bytes(answer[:200]), reset)
    assert b"the upload exceeds the limit" in answer


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


def test_failing_prover_is_visible(client, dagster_instance, db_url, monkeypatch, tmp_path):
    secret = "sk-live-0123456789abcdef"
    script = tmp_path / "broken-prover"
    script.write_text("#!/bin/sh\necho \"prover crashed; token $ZKP_TEST_API_KEY\" >&2\nexit 3\n")
    script.chmod(0o755)
    monkeypatch.setenv("ZKP_TEST_API_KEY", secret)
    # The Dagster deployment's prover chain (ZKP_PROVERS=command ...): the API does not prove.
    prover = ProverResource(backends=["command"], command=f"{script} {{statement}} {{out}}", max_attempts=2,
                            backoff_s=0.01)

    r = client.post(f"{API}/generate", json=small_statement(seed=3).to_dict())
    assert r.status_code == 202, r.text
    job = prove_requested(client, dagster_instance, db_url, r.json()["proof_job_id"], {"prover": prover})
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
    # The run failed with the job's reason and is not retried (a failed job is final).
    from dagster import RunsFilter

    (run,) = dagster_instance.get_runs(RunsFilter(tags={"zkp/proof_job_id": job["proof_job_id"]}))
    assert run.status.value == "FAILURE"


# ------------------------------------------------------- requests outlive the API


def _job_state(db_url: str, job_id: str) -> tuple:
    from zk_pipeline.db import proof_records
    from zk_pipeline.db.session import session_factory

    with session_factory(db_url)() as s:
        job = proof_records.get_job(s, job_id)
        attempts = [(a.backend, a.attempt, a.outcome, a.error) for a in proof_records.attempts_of(s, job_id)]
        return job.status.value, job.origin, job.attempts, job.run_id, attempts


def test_a_request_outlives_a_killed_api_and_is_proved_once(db_url, dagster_instance, tmp_path):
    """The API process is SIGKILLed right after it answered 202: the job is in PostgreSQL, queued, and one
    Dagster run proves it; the sensor never asks for a second run of it. Jobs of the pipeline are not its."""
    import httpx

    from tests.api.conftest import api_process
    from zk_pipeline.automation import proof_requests_sensor
    from zk_pipeline.db import proof_records
    from zk_pipeline.db.session import session_factory

    with session_factory(db_url).begin() as s:  # a pipeline job mid-proof: Dagster's allocation_proof owns it
        pipeline_job = proof_records.create_job(s, small_statement(seed=14).with_outputs(), HOUR).id
    with api_process({"DATABASE_URL": db_url}, tmp_path / "api.log") as (api, base):
        r = httpx.post(f"{base}{API}/generate", json=small_statement(seed=11).to_dict(), timeout=30)
        assert r.status_code == 202, r.text
        api.kill()
        api.wait(10)
    job_id = r.json()["proof_job_id"]
    assert _job_state(db_url, job_id) == ("queued", "api", 0, None, [])

    (request,) = evaluate(proof_requests_sensor, dagster_instance, db_url)
    assert request.run_key == f"proof-{job_id}"
    (run,) = take_up_proof_requests(dagster_instance, db_url)
    assert run.success
    status, origin, attempts, run_id, rows = _job_state(db_url, job_id)
    assert (status, origin, attempts, run_id) == ("verified", "api", 1, run.run_id)
    assert rows == [("builtin", 1, "succeeded", None)]
    assert evaluate(proof_requests_sensor, dagster_instance, db_url) == []
    assert _job_state(db_url, pipeline_job)[:2] == ("queued", "pipeline")


def test_a_job_a_dead_run_left_open_is_proved_by_the_next_run(client, dagster_instance, db_url):
    """A run died mid-proof (its attempt still ``running``; the failure sensor then marks the job
    ``interrupted``): Dagster's retry of that run closes the old attempt and proves the job."""
    from zk_pipeline.db import proof_records
    from zk_pipeline.db.session import session_factory
    from zk_pipeline.definitions import defs

    job_id = client.post(f"{API}/generate", json=small_statement(seed=12).to_dict()).json()["proof_job_id"]
    factory = session_factory(db_url)
    with factory.begin() as s:
        proof_records.start_attempt(s, job_id, "builtin")
        proof_records.interrupt(s, "run 1234 failed: worker gone", job_id=job_id)
    result = defs.resolve_job_def("proof_request_job").execute_in_process(
        run_config={"ops": {"prove_requested_statement": {"config": {"proof_job_id": job_id}}}},
        instance=dagster_instance)
    assert result.success
    status, _, attempts, run_id, rows = _job_state(db_url, job_id)
    assert (status, attempts, run_id) == ("verified", 2, result.run_id)
    assert rows == [("builtin", 1, "interrupted", "run 1234 failed: worker gone"), ("builtin", 2, "succeeded", None)]
    # Once final, a further run of the same request changes nothing.
    again = defs.resolve_job_def("proof_request_job").execute_in_process(
        run_config={"ops": {"prove_requested_statement": {"config": {"proof_job_id": job_id}}}},
        instance=dagster_instance)
    assert again.success and _job_state(db_url, job_id)[2] == 2
