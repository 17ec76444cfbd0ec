"""Backfill benchmark: a range of hours through a real Dagster backfill, as the UI launches one.

``python -m benchmarks backfill [--hours 720] [--baseline-hours 6] [--celery-hours 168]
[--skip-celery] [--ranged-only]`` (part of ``make bench``). Each configuration gets its own database on one
embedded PostgreSQL (or ``DATABASE_URL``'s server), its own Dagster home with the repository's
``deploy/dagster.yaml`` (two runs at once, one ``prover`` slot), and a ``dagster-daemon``. The
backfill is submitted to the instance the way the UI's "Launch backfill" does (a
``PartitionBackfill`` of all seven assets); the daemon splits it into runs by the assets'
``BackfillPolicy`` and runs them. The schedule and the catch-up are stopped first, so only
the backfill runs.

Configurations, all in the same session:

- ``one run per hour``: ``ZKP_BACKFILL_HOURS_PER_RUN=1``, how a backfill ran before ranged runs;
- ``ranged runs``: the default policy (``ZKP_BACKFILL_HOURS_PER_RUN``, 168 hours a run);
- ``ranged, Celery x2``: the same with ``ZKP_EXECUTOR=celery`` and two Celery workers
  (broker: the same PostgreSQL).

Printed per configuration: hours, wall time (submission to the last run's end), hours per
minute, peak memory (the summed RSS of the daemon and every process under it, and of the
Celery workers, sampled twice a second), decisions recorded; then each one's speed as a
ratio to the first, and what a year would take at the ranged rate.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIRST_HOUR = datetime(2026, 9, 1, tzinfo=timezone.utc)
YEAR_HOURS = 8760


@dataclass
class Outcome:
    name: str
    hours: int
    seconds: float
    peak_mb: float
    decisions: int
    runs: int
    status: str

    @property
    def per_minute(self) -> float:
        return self.hours / self.seconds * 60


class MemorySampler(threading.Thread):
    """Peak summed RSS of some process trees, sampled every ``interval`` seconds."""

    def __init__(self, interval: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.roots: list[int] = []
        self.interval, self.peak, self._halt = interval, 0, threading.Event()

    def run(self) -> None:
        import psutil

        while not self._halt.is_set():
            total = 0
            for pid in list(self.roots):
                try:
                    root = psutil.Process(pid)
                    for p in [root, *root.children(recursive=True)]:
                        total += p.memory_info().rss
                except psutil.Error:
                    continue
            self.peak = max(self.peak, total)
            self._halt.wait(self.interval)

    def stop(self) -> float:
        self._halt.set()
        self.join()
        return self.peak / 2**20


def _database(server_url: str, name: str) -> str:
    """A new database ``name`` on the server of ``server_url``; its URL (psycopg2)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        c.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def _stop_group(proc: subprocess.Popen) -> None:
    import signal

    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _submit(instance, hours: list[str]) -> str:
    """What the UI's "Launch backfill" stores: a backfill of every asset over ``hours``."""
    from dagster._core.execution.backfill import PartitionBackfill
    from dagster._core.utils import make_new_backfill_id

    from zk_pipeline.definitions import defs

    graph = defs.resolve_asset_graph()
    backfill = PartitionBackfill.from_asset_partitions(
        backfill_id=make_new_backfill_id(), asset_graph=graph, partition_names=hours,
        asset_selection=list(graph.get_all_asset_keys()), backfill_timestamp=time.time(), tags={},
        dynamic_partitions_store=instance, all_partitions=False, title="benchmark", description=None,
        run_config=None)
    instance.add_backfill(backfill)
    return backfill.backfill_id


def run_backfill(name: str, server_url: str, n_hours: int, work: Path, env_extra: dict[str, str],
                 celery_workers: int = 0, timeout_s: float = 7200) -> Outcome:
    from dagster import DagsterInstance
    from dagster._core.execution.backfill import BulkActionStatus
    from dagster._core.storage.dagster_run import RunsFilter
    from sqlalchemy import create_engine, text

    from zk_pipeline.db import repository
    from zk_pipeline.db.migrate import upgrade
    from zk_pipeline.db.session import session_scope
    from zk_pipeline.hours import key_of

    db = _database(server_url, "bench_" + uuid.uuid4().hex[:8])
    upgrade(db)
    with session_scope(db) as s:
        repository.sync_model_registry(s)
    home = work / f"home-{uuid.uuid4().hex[:6]}"
    home.mkdir()
    shutil.copy(ROOT / "deploy" / "dagster.yaml", home / "dagster.yaml")
    env = {**os.environ, "DATABASE_URL": db, "DAGSTER_PG_URL": db, "DAGSTER_HOME": str(home),
           "ZKP_PARTITIONS_START": key_of(FIRST_HOUR - timedelta(days=60)), **env_extra}
    bin_dir = Path(sys.executable).parent
    for kind, name_ in (("sensor", "catch_up_automation"), ("schedule", "allocation_job_schedule")):
        subprocess.run([str(bin_dir / "dagster"), kind, "stop", name_, "-w", str(ROOT / "workspace.yaml")],
                       cwd=ROOT, env=env, check=True, capture_output=True)
    sampler = MemorySampler()
    procs: list[subprocess.Popen] = []
    log = open(work / f"{name.replace(' ', '_').replace(',', '')}.log", "wb")
    try:
        for i in range(celery_workers):
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "zk_pipeline.executors", "worker", "--pool=solo",
                 "-n", f"bench{i}@%h", "--loglevel=WARNING"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        daemon = subprocess.Popen([str(bin_dir / "dagster-daemon"), "run", "-w", str(ROOT / "workspace.yaml")],
                                  cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        procs.append(daemon)
        sampler.roots = [p.pid for p in procs]
        sampler.start()
        hours = [key_of(FIRST_HOUR + timedelta(hours=i)) for i in range(n_hours)]
        saved = {k: os.environ.get(k) for k in ("DAGSTER_HOME", "DAGSTER_PG_URL", "DATABASE_URL")}
        os.environ.update({k: env[k] for k in saved})
        try:
            with DagsterInstance.get() as instance:
                started = time.monotonic()
                backfill_id = _submit(instance, hours)
                done = {BulkActionStatus.COMPLETED_SUCCESS,
                        BulkActionStatus.COMPLETED_FAILED, BulkActionStatus.FAILED, BulkActionStatus.CANCELED}
                status = None
                while time.monotonic() - started < timeout_s:
                    backfill = instance.get_backfill(backfill_id)
                    runs = instance.get_runs(RunsFilter(tags={"dagster/backfill": backfill_id}))
                    if backfill.status in done and all(r.is_finished for r in runs):
                        status = backfill.status.value
                        break
                    if daemon.poll() is not None:
                        raise RuntimeError(f"dagster-daemon exited {daemon.returncode}; log in {log.name}")
                    time.sleep(1)
                seconds = time.monotonic() - started
                n_runs = len(instance.get_runs(RunsFilter(tags={"dagster/backfill": backfill_id})))
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
    finally:
        peak = sampler.stop() if sampler.is_alive() else 0.0
        for proc in procs:
            _stop_group(proc)
        log.close()
    engine = create_engine(db)
    with engine.connect() as c:
        decisions = c.execute(text("SELECT count(*) FROM zkp.allocation_decisions")).scalar()
    engine.dispose()
    return Outcome(name, n_hours, seconds, peak, decisions, n_runs, status or f"timed out after {timeout_s:.0f}s")


def print_table(outcomes: list[Outcome]) -> None:
    base = outcomes[0]
    print(f"{'configuration':<22}{'hours':>7}{'runs':>6}{'wall s':>9}{'hours/min':>11}{'peak MB':>9}"
          f"{'decisions':>11}{'speed vs 1st':>14}  status")
    for o in outcomes:
        print(f"{o.name:<22}{o.hours:>7}{o.runs:>6}{o.seconds:>9.1f}{o.per_minute:>11.1f}{o.peak_mb:>9.0f}"
              f"{o.decisions:>11}{o.per_minute / base.per_minute:>13.1f}x  {o.status}")
    ranged = next((o for o in outcomes if o.name == "ranged runs"), None)
    if ranged:
        print(f"a month (720 h) at the ranged rate: {720 / ranged.per_minute:.1f} min (goal 10); a year "
              f"({YEAR_HOURS} h): {YEAR_HOURS / ranged.per_minute:.0f} min (goal 120), estimated, not run")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks backfill")
    parser.add_argument("--hours", type=int, default=720, help="hours of the ranged backfill (default 720)")
    parser.add_argument("--baseline-hours", type=int, default=6, help="hours of the one-run-per-hour baseline")
    parser.add_argument("--celery-hours", type=int, default=168, help="hours of the Celery backfill")
    parser.add_argument("--skip-celery", action="store_true")
    parser.add_argument("--ranged-only", action="store_true", help="only the ranged backfill (a long --hours run)")
    args = parser.parse_args(argv)
    from benchmarks.seed import scratch_database

    outcomes = []
    with scratch_database() as server, tempfile.TemporaryDirectory(prefix="zkp-bench-backfill-") as tmp:
        work = Path(tmp)
        plans = [("one run per hour", args.baseline_hours, {"ZKP_BACKFILL_HOURS_PER_RUN": "1"}, 0),
                 ("ranged runs", args.hours, {}, 0)][1 if args.ranged_only else 0:]
        if not (args.skip_celery or args.ranged_only):
            plans.append(("ranged, Celery x2", args.celery_hours, {"ZKP_EXECUTOR": "celery"}, 2))
        for name, hours, extra, workers in plans:
            outcome = run_backfill(name, server, hours, work, extra, celery_workers=workers)
            print(f"  {name}: {outcome.hours} h in {outcome.seconds:.1f} s ({outcome.status})", flush=True)
            outcomes.append(outcome)
    print_table(outcomes)
    return 0 if all(o.decisions == o.hours for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
