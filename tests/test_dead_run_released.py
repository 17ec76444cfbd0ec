"""A run SIGKILLed mid-proof holds nothing for ever.

The run executes as the daemon runs it (its own process, the job's executor,
the repository's ``dagster.yaml``) with a prover that hangs; it is SIGKILLed
while the proof attempt is running. Then one pass of the daemon's run
monitoring, of its slot release and of ``interrupted_proofs_sensor`` — the code
the daemon runs every ``poll_interval_seconds``, called here directly — must
mark the run failed, free its ``prover`` slot and close the proof job and
attempt as ``interrupted`` with the reason. A re-run of the hour then proves
(not blocked by the dead run's slot) and records the one decision.

With Dagster's default launcher the run stayed STARTED, the slot stayed
taken and the proof job stayed ``running``.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from types import SimpleNamespace

from sqlalchemy import select

from tests.conftest import ROOT
from tests.test_pool_wait import WORKER, dagster_home, wait_for
from zk_pipeline.db.models import AllocationDecision, ProofAttempt, ProofJob, ProofStatus
from zk_pipeline.db.session import session_scope

PARTITION = "2026-11-21-07:00"


def running_attempt(url: str) -> bool:
    with session_scope(url) as s:
        return s.scalar(select(ProofAttempt).where(ProofAttempt.outcome == "running")) is not None


def daemon_pass(instance, record):
    """What the daemon runs every ``poll_interval_seconds`` for a STARTED run, called directly: run
    monitoring, the slot release once the grace period is over, then ``interrupted_proofs_sensor``
    if the run failed. Returns the run and its RUN_FAILURE record (None if it did not fail)."""
    from dagster import DagsterRunStatus, build_run_status_sensor_context
    from dagster._core.events import DagsterEventType
    from dagster._daemon.monitoring.concurrency import execute_concurrency_slots_iteration
    from dagster._daemon.monitoring.run_monitoring import monitor_started_run

    from zk_pipeline.automation import interrupted_proofs_sensor
    from zk_pipeline.resources import DatabaseResource

    log = logging.getLogger("run_monitoring_test")
    run_id = record.dagster_run.run_id
    monitor_started_run(instance, None, record, log)
    run = instance.get_run_by_id(run_id)
    if run.status != DagsterRunStatus.FAILURE:
        return run, None
    (failure,) = instance.get_records_for_run(run_id, of_type=DagsterEventType.RUN_FAILURE).records
    time.sleep(instance.run_monitoring_settings["free_slots_after_run_end_seconds"] + 1.5)
    list(execute_concurrency_slots_iteration(SimpleNamespace(instance=instance), log))
    context = build_run_status_sensor_context(
        sensor_name=interrupted_proofs_sensor.name, dagster_instance=instance, dagster_run=run,
        dagster_event=failure.event_log_entry.dagster_event,
        resources={"database": DatabaseResource(url=os.environ["DATABASE_URL"])}).for_run_failure()
    interrupted_proofs_sensor(context)
    return run, failure


def test_a_run_killed_mid_proof_is_failed_its_slot_freed_and_its_proof_job_closed(db_url, scratch_db_url, tmp_path,
                                                                                  monkeypatch):
    from dagster import DagsterInstance, DagsterRunStatus

    env = {**os.environ, **dagster_home(tmp_path, scratch_db_url), "DATABASE_URL": db_url}
    monkeypatch.setenv("DAGSTER_PG_URL", env["DAGSTER_PG_URL"])
    hanging = {**env, "ZKP_PROVERS": "command", "ZKP_PROVER_COMMAND": "sleep 600", "ZKP_PROVER_TIMEOUT_S": "900"}
    proc = subprocess.Popen([sys.executable, "-c", WORKER, PARTITION], cwd=ROOT, env=hanging,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(lambda: running_attempt(db_url) or proc.poll() is not None, 180, "the proof attempt to start")
        assert proc.poll() is None, proc.communicate()[0][-3000:]
        proc.kill()
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()

    with DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        (record,) = instance.get_run_records()
        run_id = record.dagster_run.run_id
        assert record.dagster_run.status == DagsterRunStatus.STARTED
        assert instance.event_log_storage.get_concurrency_info("prover").active_run_ids == {run_id}
        assert instance.run_monitoring_settings["enabled"]
        assert 0 < instance.run_monitoring_settings["free_slots_after_run_end_seconds"] <= 30

        run, failure = daemon_pass(instance, record)
        # The run's process is gone, so the run is failed ...
        assert run.status == DagsterRunStatus.FAILURE
        assert f"run worker process {proc.pid} is gone" in failure.event_log_entry.message
        # ... its slot is freed after the grace period ...
        info = instance.event_log_storage.get_concurrency_info("prover")
        assert info.active_run_ids == set() and info.claimed_slots == []
        # ... and the run failure sensor closed the proof job and its attempt, with the reason.
        with session_scope(db_url) as s:
            (job,) = s.scalars(select(ProofJob)).all()
            (attempt,) = s.scalars(select(ProofAttempt)).all()
        assert job.run_id == run_id and job.status == ProofStatus.interrupted
        assert f"run {run_id} failed" in job.last_error and "is gone" in job.last_error
        assert attempt.outcome == "interrupted" and attempt.finished_at is not None

    # The hour again, with the real prover: the freed slot lets it prove; one decision.
    out = subprocess.run([sys.executable, "-c", WORKER, PARTITION], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=300)
    assert "RUN" in out.stdout and out.stdout.split()[-1] == "True", (out.stdout + out.stderr)[-3000:]
    with session_scope(db_url) as s:
        decisions = s.scalars(select(AllocationDecision)).all()
        jobs = {j.status for j in s.scalars(select(ProofJob))}
    assert len(decisions) == 1 and jobs == {ProofStatus.interrupted, ProofStatus.verified}
