"""End to end with the real daemon: requests recorded while Dagster is down are run once when it comes back.

Two API processes take the same proof request and the same orchestration
request at the same moment and are then SIGKILLed; no Dagster process runs yet.
Then ``dagster-daemon`` starts on the repository's workspace and
``dagster.yaml``: its sensors turn the two requests into one run each, its
queue launches them (run workers of their own), and a fresh API process reports
both finished. Nothing is proved or run by an API process.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

from tests.api.conftest import api_process
from tests.api.test_proofs import small_statement
from tests.helpers import stop_process_group
from zk_pipeline import hours
from zk_pipeline.db.models import OrchestrationRequest, ProofJob
from zk_pipeline.db.session import session_scope
from zk_pipeline.db.urls import with_psycopg2

ROOT = Path(__file__).resolve().parents[2]
API = "/api/v1"


def both_at_once(bases: list[str], path: str, body: dict) -> list[httpx.Response]:
    start, answers = threading.Barrier(len(bases)), {}

    def ask(base: str) -> None:
        start.wait()
        answers[base] = httpx.post(f"{base}{path}", json=body, timeout=60)

    threads = [threading.Thread(target=ask, args=(b,)) for b in bases]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    return [answers[b] for b in bases]


def wait_for(predicate, timeout: float, what: str, daemon: subprocess.Popen, log: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert daemon.poll() is None, log.read_text()[-3000:]
        value = predicate()
        if value:
            return value
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n{log.read_text()[-3000:]}")


@pytest.mark.slow
def test_requests_made_while_dagster_is_down_each_become_one_run_when_it_comes_back(db_url, scratch_db_url,
                                                                                    tmp_path, monkeypatch):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "deploy" / "dagster.yaml", home / "dagster.yaml")
    hour = hours.latest_complete_key(datetime.now(timezone.utc))
    env = {"DATABASE_URL": db_url, "DAGSTER_HOME": str(home), "DAGSTER_PG_URL": with_psycopg2(scratch_db_url),
           # One partition, the newest hour: the catch-up automation has nothing to do (it never takes the
           # newest hour) and the schedule, should minute 5 pass, finds the hour running or decided.
           "ZKP_PARTITIONS_START": hour}
    monkeypatch.setenv("DAGSTER_PG_URL", env["DAGSTER_PG_URL"])  # this process reads the same run storage

    with api_process(env, tmp_path / "a.log") as (api_a, a), api_process(env, tmp_path / "b.log") as (api_b, b):
        proofs = both_at_once([a, b], f"{API}/proofs/generate", small_statement(seed=21).to_dict())
        runs = both_at_once([a, b], f"{API}/risk-engine/orchestrate-allocation", {"partition_key": hour})
        for api in (api_a, api_b):
            api.send_signal(signal.SIGKILL)
            api.wait(10)
    assert sorted(r.status_code for r in proofs) == [202, 202], [r.text for r in proofs]
    (job_id,) = {r.json()["proof_job_id"] for r in proofs}
    assert sorted(r.status_code for r in runs) == [200, 202], [r.text for r in runs]
    (request_id,) = {r.json()["request_id"] for r in runs}
    with session_scope(db_url) as s:
        assert s.get(ProofJob, job_id).status.value == "queued"
        assert s.get(OrchestrationRequest, request_id).state.value == "pending"

    log = tmp_path / "daemon.log"
    with open(log, "wb") as out:
        daemon = subprocess.Popen(
            [str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", str(ROOT / "workspace.yaml")],
            cwd=ROOT, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        with DagsterInstance.from_config(str(home)) as instance:
            def finished(tags: dict[str, str]) -> list:
                records = instance.get_runs(RunsFilter(tags=tags))
                return records if records and all(r.is_finished for r in records) else []

            proof_runs = wait_for(lambda: finished({"zkp/proof_job_id": job_id}), 240, "the proof run", daemon, log)
            hour_runs = wait_for(lambda: finished({"dagster/partition": hour}), 300, "the hour's run", daemon, log)
            assert [r.status for r in proof_runs] == [DagsterRunStatus.SUCCESS]
            assert [(r.status, r.job_name, r.tags.get("zkp/request_id")) for r in hour_runs] == [
                (DagsterRunStatus.SUCCESS, "allocation_job", request_id)]
            time.sleep(12)  # two more sensor ticks: still one run of each
            assert len(instance.get_runs(RunsFilter(tags={"zkp/proof_job_id": job_id}))) == 1
            assert len(instance.get_runs(RunsFilter(tags={"dagster/partition": hour}))) == 1
    finally:
        stop_process_group(daemon, 30)

    with api_process(env, tmp_path / "c.log") as (_, c):
        job = httpx.get(f"{c}{API}/proofs/{job_id}", timeout=30).json()
        assert job["status"] == "verified" and [a["attempt"] for a in job["attempts"]] == [1], job
        state = httpx.get(f"{c}{API}/risk-engine/orchestration/{request_id}", timeout=30).json()
        assert (state["status"], state["partition_key"], state["run_id"]) == ("SUCCESS", hour, hour_runs[0].run_id)
        assert state["started_at"] and state["ended_at"]
        decisions = httpx.get(f"{c}{API}/risk-engine/decisions", timeout=30).json()
        assert decisions["total"] == 1
