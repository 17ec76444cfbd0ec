"""Run launcher that can tell the daemon's run monitoring whether a run's process is still alive.

Dagster's ``DefaultRunLauncher`` starts run workers as local processes but
cannot say whether one is alive, so its run monitoring only watches start
and cancel timeouts: a run whose process was SIGKILLed, or died because
PostgreSQL went away under it, stayed ``STARTED`` for ever and kept its
``prover`` pool slot. This launcher launches runs exactly as the default one
does and answers the health check from the process that wrote the run's
``RUN_START`` event: alive (same pid, started no later than the event, not a
zombie) → running; otherwise → failed, and the monitoring daemon marks the
run failed (``dagster.yaml``: ``run_monitoring``), which frees its slots and
lets ``run_retries`` launch it again.

It judges runs of this machine only, the deployment ``zkp run`` and
``dagster dev`` make (daemon, code server and run workers on one host); with
workers on other hosts use a launcher that knows them.
"""

from __future__ import annotations

import psutil
from dagster._core.events import DagsterEventType
from dagster._core.launcher import CheckRunHealthResult, DefaultRunLauncher, WorkerStatus
from dagster._core.storage.dagster_run import DagsterRun

#: Clock slack between a process's start time and the first event it wrote (psutil rounds to 10 ms).
START_SLACK_S = 1.0


def run_worker(instance, run_id: str) -> tuple[int, float] | None:
    """The pid and the time of the process that started the run (its ``RUN_START`` event), if any."""
    records = instance.get_records_for_run(run_id, of_type=DagsterEventType.RUN_START, limit=1).records
    if not records or records[0].event_log_entry.dagster_event is None:
        return None
    entry = records[0].event_log_entry
    return entry.dagster_event.pid, entry.timestamp


def worker_alive(pid: int | None, started_by: float) -> bool:
    """Whether ``pid`` is a live process that already existed at ``started_by`` (not a reused pid)."""
    if not pid:
        return False
    try:
        proc = psutil.Process(pid)
        return proc.status() != psutil.STATUS_ZOMBIE and proc.create_time() <= started_by + START_SLACK_S
    except psutil.Error:
        return False


class LocalRunLauncher(DefaultRunLauncher):
    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        worker = run_worker(self._instance, run.run_id)
        if worker is None:
            # Nothing to judge by (a run is STARTED by its RUN_START event): never fail a run on a guess.
            return CheckRunHealthResult(WorkerStatus.RUNNING, "no RUN_START event to judge by")
        pid, started = worker
        if worker_alive(pid, started):
            return CheckRunHealthResult(WorkerStatus.RUNNING, f"run worker pid {pid} is alive")
        return CheckRunHealthResult(WorkerStatus.FAILED, f"run worker process {pid} is gone")
