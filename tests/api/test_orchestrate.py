"""Orchestration: real Dagster runs of ``allocation_job`` launched through the API.

One flow, one proof: the hour is first materialized with the real asset graph
(``materialize(all_assets, ...)``, proof included), which also covers
``POST /proofs/generate`` by partition key; then the API runs the same hour in
process on an ephemeral instance and on ``DAGSTER_HOME`` (Postgres storage),
then through the GraphQL API of a real ``dagster-webserver`` started here.
Every run goes through all seven steps; the proof step reuses the verified
job of the identical statement, which keeps the test inside its time budget.
The test's DAGSTER_HOME uses the repository's dagster.yaml plus the default
run coordinator, because no daemon runs to dequeue queued runs.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest
from dagster import materialize
from fastapi.testclient import TestClient
from sqlalchemy import delete, select

from api.main import create_app
from tests.helpers import pipeline_resources
from zk_pipeline.db.models import AllocationDecision, ProofJob, ProofStatus
from zk_pipeline.db.session import session_scope
from zk_pipeline.definitions import all_assets
from zk_pipeline.orchestration import GraphQLEndpoint, latest_complete_hour

ROOT = Path(__file__).resolve().parents[2]
API = "/api/v1/risk-engine"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def dagster_home(tmp_path, monkeypatch, db_url) -> Path:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(
        (ROOT / "dagster.yaml").read_text()
        + "\n# Tests run no daemon: the webserver launches runs itself.\n"
          "run_coordinator:\n  module: dagster._core.run_coordinator\n  class: DefaultRunCoordinator\n")
    monkeypatch.setenv("DAGSTER_PG_URL", db_url)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.delenv("DAGSTER_GRAPHQL_URL", raising=False)
    return home


@pytest.fixture()
def client(db_url):
    with TestClient(create_app(db_url)) as c:
        yield c


@contextmanager
def dagster_webserver(home: Path, db_url: str):
    """A real ``dagster-webserver`` on the repository's workspace, in its own process group."""
    port = free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home), "DAGSTER_PG_URL": db_url, "DATABASE_URL": db_url}
    env.pop("DAGSTER_GRAPHQL_URL", None)
    with open(home / "webserver.log", "wb") as log:
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "dagster-webserver"), "-w", str(ROOT / "workspace.yaml"),
             "-h", "127.0.0.1", "-p", str(port)],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield port, proc
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        except ProcessLookupError:
            pass


def wait_ready(port: int, proc: subprocess.Popen, home: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, (home / "webserver.log").read_text()[-3000:]
        try:
            if httpx.get(f"http://127.0.0.1:{port}/server_info", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise AssertionError("dagster-webserver did not start:\n" + (home / "webserver.log").read_text()[-3000:])


def wait_finished(client: TestClient, status_url: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        r = client.get(status_url)
        assert r.status_code == 200, r.text
        if r.json()["finished"]:
            return r.json()
        assert time.monotonic() < deadline, f"run still {r.json()['status']} after {timeout}s"
        time.sleep(0.5)


@pytest.mark.slow
def test_partition_proof_then_orchestrate_in_process_and_through_graphql(
        client, db_url, dagster_home, dagster_instance, monkeypatch):
    with dagster_webserver(dagster_home, db_url) as (port, proc):  # boots while the rest goes on
        key = latest_complete_hour()
        hour = datetime.strptime(key, "%Y-%m-%d-%H:%M").replace(tzinfo=timezone.utc)

        # 0. The pipeline proves the hour; generate-by-partition-key returns the pipeline's verified job.
        result = materialize(all_assets, partition_key=key, resources=pipeline_resources(db_url),
                             instance=dagster_instance)
        assert result.success
        with session_scope(db_url) as s:
            pipeline_job_id = s.scalar(select(AllocationDecision.proof_job_id).where(AllocationDecision.timestamp == hour))
        assert pipeline_job_id
        r = client.post("/api/v1/proofs/generate", json={"partition_key": key})
        assert r.status_code == 200, r.text
        assert r.json()["proof_job_id"] == pipeline_job_id and r.json()["reused"] is True
        assert client.get(r.json()["status_url"]).json()["status"] == "verified"
        with session_scope(db_url) as s:  # the runs below must record the decision again
            s.execute(delete(AllocationDecision))
        monkeypatch.delenv("DAGSTER_HOME", raising=False)  # instance_for_test had set it

        # 1. No DAGSTER_HOME: in process, on an ephemeral instance, and the response says so.
        r = client.post(f"{API}/orchestrate-allocation", json={"partition_key": key})
        assert r.status_code == 202, r.text
        first = r.json()
        assert first["mode"] == "in_process" and first["instance"] == "ephemeral" and first["partition_key"] == key
        assert "DAGSTER_HOME is not set" in first["note"] and first["already_running"] is False
        assert first["status_url"] == f"{API}/orchestration/{first['run_id']}" == r.headers["location"]
        again = client.post(f"{API}/orchestrate-allocation", json={"partition_key": key}).json()
        assert again["run_id"] == first["run_id"] and again["already_running"] is True
        run = wait_finished(client, first["status_url"])
        assert run["status"] == "SUCCESS", run
        assert run["partition_key"] == key and run["errors"] == [] and run["started_at"] and run["ended_at"]

        with session_scope(db_url) as s:
            decision = s.scalar(select(AllocationDecision).where(AllocationDecision.timestamp == hour))
            assert decision is not None and decision.proof_job_id == pipeline_job_id
            job = s.get(ProofJob, decision.proof_job_id)
            assert job.status == ProofStatus.verified and job.fact_hash

        # 2. DAGSTER_HOME set: DagsterInstance.get() on Postgres; the identical statement reuses its proof.
        monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
        # No partition key: the latest complete hour (read around the call, in case an hour turns meanwhile).
        before = latest_complete_hour()
        second = client.post(f"{API}/orchestrate-allocation").json()
        assert second["partition_key"] in {before, latest_complete_hour()}
        assert second["mode"] == "in_process" and second["instance"] == "dagster_home" and second["note"] is None
        assert wait_finished(client, second["status_url"])["status"] == "SUCCESS"
        assert client.get(first["status_url"]).json()["status"] == "SUCCESS"  # the ephemeral run is still known

        from dagster import DagsterInstance

        with DagsterInstance.get() as instance:
            stored = instance.get_run_by_id(second["run_id"])
            assert stored.job_name == "allocation_job" and stored.tags["dagster/partition"] == second["partition_key"]
            assert instance.get_run_by_id(first["run_id"]) is None  # that one lived in memory only

        # 3. DAGSTER_GRAPHQL_URL set: submitted to the real webserver with the partition tag.
        wait_ready(port, proc, dagster_home)
        monkeypatch.setenv("DAGSTER_GRAPHQL_URL", f"http://127.0.0.1:{port}/graphql")
        r = client.post(f"{API}/orchestrate-allocation", json={"partition_key": key})
        assert r.status_code == 202, r.text
        third = r.json()
        assert third["mode"] == "graphql" and third["instance"] == "remote" and third["partition_key"] == key
        run = wait_finished(client, third["status_url"], timeout=90)
        assert run["status"] == "SUCCESS" and run["mode"] == "graphql", run
        with DagsterInstance.get() as instance:
            stored = instance.get_run_by_id(third["run_id"])
            assert stored.job_name == "allocation_job"
            assert stored.tags["dagster/partition"] == key and stored.tags["zkp/launched_by"] == "api"
        missing = client.get(f"{API}/orchestration/00000000-0000-4000-8000-000000000000")
        assert missing.status_code == 404
        # A run this process launched in process is still found while GraphQL mode is on.
        assert client.get(second["status_url"]).json()["status"] == "SUCCESS"


def test_orchestrate_refuses_bad_requests(client, dagster_home, monkeypatch):
    for key, reason in (("2026-11-20 10:00", "not an hour"), ("2026-11-20-10:30", "not an hour"),
                        ("2025-12-31-23:00", "before the first partition"),
                        ("2999-01-01-00:00", "has not closed yet")):
        r = client.post(f"{API}/orchestrate-allocation", json={"partition_key": key})
        assert r.status_code == 422 and reason in r.json()["detail"], (key, r.text)
    assert client.get(f"{API}/orchestration/not-a-run").status_code == 422
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    assert client.get(f"{API}/orchestration/00000000-0000-4000-8000-000000000000").status_code == 404

    monkeypatch.delenv("DATABASE_URL")
    r = client.post(f"{API}/orchestrate-allocation")
    assert r.status_code == 503 and "DATABASE_URL" in r.json()["detail"]


def test_graphql_errors_are_reported_without_credentials(client, dagster_home, monkeypatch):
    monkeypatch.setenv("DAGSTER_GRAPHQL_URL", "ftp://dagster.example/graphql")
    r = client.post(f"{API}/orchestrate-allocation")
    assert r.status_code == 503 and "http(s) URL" in r.json()["detail"]

    monkeypatch.setenv("DAGSTER_GRAPHQL_URL", f"http://admin:s3cret-Pa55@127.0.0.1:{free_port()}/graphql")
    r = client.post(f"{API}/orchestrate-allocation")
    assert r.status_code == 502 and "cannot connect" in r.json()["detail"]
    s = client.get(f"{API}/orchestration/00000000-0000-4000-8000-000000000000")
    assert s.status_code == 502
    for text in (r.text, s.text):
        assert "s3cret" not in text and "admin" not in text


def test_graphql_endpoint_parsing():
    e = GraphQLEndpoint.parse("http://127.0.0.1:3000/graphql")
    assert (e.hostname, e.port, e.use_https, e.path_prefix, e.username) == ("127.0.0.1", 3000, False, "", None)
    e = GraphQLEndpoint.parse("https://user:pw%40x@dagster.example/base/graphql/")
    assert (e.hostname, e.port, e.use_https, e.path_prefix) == ("dagster.example", None, True, "/base")
    assert (e.username, e.password) == ("user", "pw@x")
    assert e.public_url == "https://dagster.example/base/graphql"
    assert GraphQLEndpoint.parse("http://dagster:3000").public_url == "http://dagster:3000/graphql"
    for bad in ("dagster:3000", "http:///graphql", "http://h:99999/graphql"):
        with pytest.raises(ValueError):
            GraphQLEndpoint.parse(bad)


def test_failed_in_process_run_says_why_without_secrets(client, dagster_home, monkeypatch):
    """The run's database is unreachable: the first step fails, the status lists it, no password leaks."""
    monkeypatch.setenv("DATABASE_URL", f"postgresql://zkp:hunter2-S3CRET@127.0.0.1:{free_port()}/zkp")
    r = client.post(f"{API}/orchestrate-allocation", json={"partition_key": "2026-11-20-10:00"})
    assert r.status_code == 202, r.text
    run = wait_finished(client, r.json()["status_url"], timeout=60)
    assert run["status"] == "FAILURE" and run["ended_at"]
    step = next(e for e in run["errors"] if e.startswith("step protocol_metrics:"))
    assert "Connection refused" in step  # the underlying error, not Dagster's wrapper
    assert "S3CRET" not in json.dumps(run)
