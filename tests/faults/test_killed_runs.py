"""Run processes SIGKILLed mid-proof and mid-``verified_fact``: what is on record, and the recovery.

With the daemon: the run is killed while its proof attempt runs; run
monitoring fails it, its ``prover`` slot is freed, the run-failure sensor
closes the proof job as ``interrupted``, and run retries launch it again;
the retry records the hour's one decision. Without the daemon: the run is
killed while ``verified_fact`` waits on a table lock held by the test (a
deterministic point, not a race); a re-run gives the same decision id, reuses
the verified proof and duplicates nothing.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import create_engine, select, text

from tests.conftest import ROOT
from tests.faults.conftest import daemon
from tests.test_pool_wait import WORKER, dagster_home, wait_for
from zk_pipeline.db import repository
from zk_pipeline.db.models import AllocationDecision, ProofAttempt, ProofJob, ProofStatus
from zk_pipeline.db.session import session_scope
from zk_pipeline.risk.registry import get_version
from zk_pipeline.run_health import run_worker
from zk_pipeline.services.run_requests import request_run

pytestmark = pytest.mark.slow


def one(url, model, *where):
    with session_scope(url) as s:
        return s.scalars(select(model).where(*where)).all()


def test_daemon_fails_a_run_killed_mid_proof_frees_its_slot_and_retries_it(db_url, scratch_db_url, tmp_path,
                                                                           monkeypatch):
    from dagster import DagsterInstance, DagsterRunStatus

    hour = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    key = hour.strftime("%Y-%m-%d-%H:%M")
    mark = tmp_path / "first-attempt-hangs"
    env = {**os.environ, **dagster_home(tmp_path, scratch_db_url), "DATABASE_URL": db_url,
           # One partition, this hour: nothing else for the schedule or the catch-up to launch.
           "ZKP_PARTITIONS_START": key,
           # The first proof attempt hangs (and is killed with its run); later ones fall back to builtin.
           "ZKP_PROVERS": "command,builtin", "ZKP_PROVER_MAX_ATTEMPTS": "1",
           "ZKP_PROVER_COMMAND": f"sh -c 'test -e {mark} || {{ touch {mark}; sleep 600; }}; exit 1'"}
    monkeypatch.setenv("DAGSTER_PG_URL", env["DAGSTER_PG_URL"])
    # The hour is asked for as the API asks (the catch-up never takes the newest hour: it is the
    # schedule's, at minute 5); the daemon's run_requests_sensor launches it.
    with session_scope(db_url) as s:
        request_run(s, None, key)
    with DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance, daemon(env, tmp_path / "daemon.log"):
        wait_for(lambda: one(db_url, ProofAttempt, ProofAttempt.outcome == "running"), 300,
                 "the requested run to start proving")
        (record,) = instance.get_run_records()
        first = record.dagster_run.run_id
        pid, _ = run_worker(instance, first)
        os.kill(pid, signal.SIGKILL)
        killed = datetime.now(timezone.utc)

        wait_for(lambda: instance.get_run_by_id(first).status == DagsterRunStatus.FAILURE, 120,
                 "run monitoring to fail the dead run")
        failed_after = (datetime.now(timezone.utc) - killed).total_seconds()
        wait_for(lambda: one(db_url, AllocationDecision), 300, "the retried run's decision")
        wait_for(lambda: one(db_url, ProofJob, ProofJob.status == ProofStatus.interrupted), 120,
                 "the run-failure sensor to close the proof job")
        wait_for(lambda: not instance.event_log_storage.get_concurrency_info("prover").active_run_ids, 120,
                 "the prover slots to be free")
        released_after = (datetime.now(timezone.utc) - killed).total_seconds()
        runs = instance.get_runs()
    print(f"dead run failed {failed_after:.0f}s and all slots free {released_after:.0f}s after SIGKILL")

    by_id = {r.run_id: r for r in runs}
    retries = [r for r in runs if r.tags.get("dagster/parent_run_id") == first]
    assert retries and retries[-1].status == DagsterRunStatus.SUCCESS, {r.run_id: r.status for r in runs}
    assert by_id[first].status == DagsterRunStatus.FAILURE
    (interrupted,) = one(db_url, ProofJob, ProofJob.status == ProofStatus.interrupted)
    assert interrupted.run_id == first and f"run worker process {pid} is gone" in interrupted.last_error
    (attempt,) = one(db_url, ProofAttempt, ProofAttempt.job_id == interrupted.id)
    assert attempt.outcome == "interrupted"
    (decision,) = one(db_url, AllocationDecision)
    assert decision.decision_id == repository.decision_id_for(hour, get_version().hash_hex)


def test_a_run_killed_in_verified_fact_reruns_to_the_same_decision(db_url, scratch_db_url, tmp_path, monkeypatch):
    from dagster import DagsterInstance, DagsterRunStatus
    from dagster._core.events import DagsterEventType
    from dagster._daemon.monitoring.run_monitoring import monitor_started_run

    hour = datetime(2026, 11, 21, 13, tzinfo=timezone.utc)
    key = hour.strftime("%Y-%m-%d-%H:%M")
    env = {**os.environ, **dagster_home(tmp_path, scratch_db_url), "DATABASE_URL": db_url}
    monkeypatch.setenv("DAGSTER_PG_URL", env["DAGSTER_PG_URL"])
    locker = create_engine(db_url).connect()
    proc = subprocess.Popen([sys.executable, "-c", WORKER, key], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    with DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        try:
            # allocation_proof has read its proposal and is proving: from now on only verified_fact reads
            # allocation_proposals, and it will wait for this lock.
            wait_for(lambda: one(db_url, ProofAttempt) or proc.poll() is not None, 180, "the proof to start")
            tx = locker.begin()
            locker.execute(text("LOCK TABLE zkp.allocation_proposals IN ACCESS EXCLUSIVE MODE"))

            def in_verified_fact():
                (rec,) = instance.get_run_records()
                starts = instance.get_records_for_run(rec.dagster_run.run_id,
                                                      of_type=DagsterEventType.STEP_START).records
                return any(r.event_log_entry.step_key == "verified_fact" for r in starts)

            wait_for(lambda: in_verified_fact() or proc.poll() is not None, 180, "verified_fact to start")
            assert proc.poll() is None
            proc.kill()
            proc.wait(timeout=30)
            tx.rollback()
        finally:
            locker.close()
            if proc.poll() is None:
                proc.kill()
        (record,) = instance.get_run_records()
        monitor_started_run(instance, None, record, logging.getLogger("faults"))
        assert instance.get_run_by_id(record.dagster_run.run_id).status == DagsterRunStatus.FAILURE
        assert one(db_url, AllocationDecision) == []  # killed before the decision
        (job,) = one(db_url, ProofJob)
        assert job.status == ProofStatus.verified  # the proof itself had finished and is kept

    out = subprocess.run([sys.executable, "-c", WORKER, key], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.stdout.split()[-1] == "True", (out.stdout + out.stderr)[-3000:]
    (decision,) = one(db_url, AllocationDecision)
    assert decision.decision_id == repository.decision_id_for(hour, get_version().hash_hex)
    assert decision.proof_job_id == job.id  # the verified proof was reused, not made again
    assert len(one(db_url, ProofJob)) == 1
