"""Several API processes on one database: each finishes its own proof jobs, and those of processes that died.

Leases are PostgreSQL advisory locks on a connection of the process that holds the job
(``api.routes.proofs.JobLeases``), so these tests run on the real server: two lease holders
in this process stand for two processes, and a real second API process is killed.
"""

from __future__ import annotations

import pytest

import time

import httpx

from api.routes.proofs import INTERRUPTED, JobLeases, create_api_job, recover_interrupted_jobs, workers
from tests.api.conftest import SlowProver, api_process, serve
from tests.api.test_proofs import API, HOUR, _job_state, small_statement, wait_for
from zk_pipeline.db.session import session_factory
from zk_pipeline.db.urls import with_psycopg2


def _eventually(probe, seconds: float = 30.0):
    """``probe()``'s first truthy value, polled until ``seconds`` have passed (then its last value)."""
    deadline = time.monotonic() + seconds
    while not (value := probe()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return value


def test_a_lease_is_exclusive_and_dies_with_its_connection(db_url):
    url = with_psycopg2(db_url)
    a, b = JobLeases(), JobLeases()
    try:
        assert a.try_acquire(url, "job-1") and a.try_acquire(url, "job-1")  # re-entrant for its holder
        assert not b.try_acquire(url, "job-1") and b.try_acquire(url, "job-2")
        a.release(url, "job-1")
        assert b.try_acquire(url, "job-1")
        b.close()  # what the death of b's process does
        # The server drops b's locks when it has noticed the disconnection, which is not instantaneous.
        assert _eventually(lambda: a.try_acquire(url, "job-1")) and a.try_acquire(url, "job-2")
    finally:
        a.close()
        b.close()


def test_recovery_skips_jobs_a_live_process_holds(db_url):
    url = with_psycopg2(db_url)
    with session_factory(url).begin() as s:
        job_id = create_api_job(s, small_statement(seed=21).with_outputs(), HOUR).id
    other = JobLeases()  # another API process, alive, with the job in its queue
    try:
        assert other.try_acquire(url, job_id)
        before = _job_state(db_url, job_id)
        assert recover_interrupted_jobs(url) == []
        assert _job_state(db_url, job_id) == before
        other.close()  # it dies: its lock goes with its connection (once the server has noticed)
        recovered: list = []
        assert _eventually(lambda: recovered.extend(recover_interrupted_jobs(url)) or recovered) == [job_id]
        deadline = time.monotonic() + 120
        while _job_state(db_url, job_id)[0] not in ("verified", "failed", "rejected"):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert _job_state(db_url, job_id)[0] == "verified"
        assert not workers.leases._held.get(url)  # released when the job ended
    finally:
        other.close()


@pytest.mark.slow
def test_a_second_api_finishes_the_jobs_of_one_that_was_killed(db_url, tmp_path, monkeypatch):
    """API A (a real process) is proving; API B starts beside it and leaves A's job alone; A is killed;
    B's periodic sweep takes the job over and finishes it."""
    prover = SlowProver(tmp_path)
    env_a = {"DATABASE_URL": db_url, **prover.env}
    monkeypatch.setenv("ZKP_PROVERS", "builtin")
    monkeypatch.setenv("ZKP_API_RECOVERY_INTERVAL_S", "0.5")
    try:
        with api_process(env_a, tmp_path / "a.log") as (api_a, base_a):
            r = httpx.post(f"{base_a}{API}/generate", json=small_statement(seed=22).to_dict(), timeout=10)
            assert r.status_code == 202, r.text
            job_id = r.json()["proof_job_id"]
            prover.wait_started(tmp_path / "a.log")  # A's prover is at work
            with serve(db_url) as (host, port), httpx.Client(base_url=f"http://{host}:{port}", timeout=10) as b:
                time.sleep(2.0)  # B started (startup recovery) and swept four times
                state = _job_state(db_url, job_id)
                assert state[0] == "running" and [a[:3] for a in state[5]] == [("command", 1, "running")]
                api_a.kill()
                api_a.wait(10)
                job = wait_for(b, job_id, {"verified", "failed", "rejected"}, timeout=120)
    finally:
        prover.kill()
    assert job["status"] == "verified", job
    assert [(a["backend"], a["attempt"], a["outcome"], a["error"]) for a in job["attempts"]] == [
        ("command", 1, "failed", INTERRUPTED), ("builtin", 2, "succeeded", None)]
