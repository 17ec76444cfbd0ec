"""A step blocked by the ``prover`` pool sleeps, and a SIGTERM ends its run promptly.

A run of ``allocation_job`` is executed the way the daemon executes it (with the
job's own executor, in a process of its own) while another run holds the
pool's only slot. Its CPU time is measured while it waits; then it gets a
SIGTERM. Dagster's stock in-process executor spun at ~97 % of a core here and
did not stop until the slot freed.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import psutil

from tests.conftest import ROOT
from zk_pipeline.db.urls import with_psycopg2

PARTITION = "2026-11-21-05:00"
HOLDER = "f" * 8 + "-0000-4000-8000-" + "0" * 12  # the run that holds the slot (it never runs)

WORKER = textwrap.dedent("""
    import sys
    from dagster import DagsterInstance, execute_job
    from dagster._core.definitions.reconstruct import ReconstructableRepository

    job = ReconstructableRepository.for_module("zk_pipeline.definitions", "defs").get_reconstructable_job(
        "allocation_job")
    with DagsterInstance.get() as instance:
        result = execute_job(job, instance, tags={"dagster/partition": sys.argv[1]}, raise_on_error=False)
    print("RUN", result.run_id, result.success, flush=True)
""")


def dagster_home(tmp_path, storage_url: str) -> dict[str, str]:
    """A Dagster home with the repository's dagster.yaml on ``storage_url``, as an environment."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "deploy" / "dagster.yaml", home / "dagster.yaml")
    return {"DAGSTER_HOME": str(home), "DAGSTER_PG_URL": with_psycopg2(storage_url)}


def wait_for(predicate, timeout: float, what: str, every: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def blocked_step_message(instance) -> bool:
    """Whether the newest run's engine events say a step waits for the ``prover`` pool."""
    from dagster._core.events import DagsterEventType

    runs = instance.get_runs(limit=1)
    if not runs:
        return False
    records = instance.get_records_for_run(runs[0].run_id, of_type=DagsterEventType.ENGINE_EVENT).records
    return any("blocked by limit for pool prover" in (r.event_log_entry.message or "") for r in records)


def test_a_step_waiting_for_the_prover_pool_sleeps_and_stops_on_sigterm(db_url, scratch_db_url, tmp_path,
                                                                        monkeypatch):
    from dagster import DagsterInstance, DagsterRunStatus

    env = {**os.environ, **dagster_home(tmp_path, scratch_db_url), "DATABASE_URL": db_url}
    monkeypatch.setenv("DAGSTER_PG_URL", env["DAGSTER_PG_URL"])
    with DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        storage = instance.event_log_storage
        storage.set_concurrency_slots("prover", 1)
        assert storage.claim_concurrency_slot("prover", HOLDER, "allocation_proof").is_claimed
        proc = subprocess.Popen([sys.executable, "-c", WORKER, PARTITION], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            wait_for(lambda: blocked_step_message(instance) or proc.poll() is not None, 180,
                     "the proof step to block on the prover pool")
            assert proc.poll() is None, proc.communicate()[0][-3000:]
            worker = psutil.Process(proc.pid)
            time.sleep(1.0)  # past the step's first claim attempts
            before, t0 = worker.cpu_times(), time.monotonic()
            time.sleep(4.0)
            after, t1 = worker.cpu_times(), time.monotonic()
            busy = (after.user + after.system - before.user - before.system) / (t1 - t0)
            print(f"CPU of the blocked run: {busy:.3f} of a core")
            assert busy < 0.10, f"blocked run used {busy:.2f} of a core"

            t_term = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            out = proc.communicate(timeout=30)[0]
            stopped = time.monotonic() - t_term
            print(f"stopped {stopped:.2f}s after SIGTERM")
            assert stopped < 10, out[-3000:]
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        (run,) = [r for r in instance.get_runs() if r.run_id != HOLDER]
        assert run.status in (DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED), (run.status, out[-3000:])
        # Its pending claim is withdrawn; the holder still has the slot.
        info = storage.get_concurrency_info("prover")
        assert info.pending_step_count == 0 and info.active_run_ids == {HOLDER}
