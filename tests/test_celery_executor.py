"""The executor named by the settings, and a backfill spread over two Celery workers.

The end-to-end test runs four hours of ``allocation_job`` twice, as four runs at
once (a backfill's runs): first with the default in-process executor, then with
``ZKP_EXECUTOR=celery`` and two Celery worker processes on this machine. The
broker and the result backend are the test's own PostgreSQL (kombu's
SQLAlchemy transport, Celery's database backend), named through
``ZKP_CELERY_BROKER_URL`` as a Redis URL would be. Both workers must have
executed steps, each at least one proof, and the two backfills must have
recorded the same decisions, proofs and facts.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.conftest import ROOT
from tests.helpers import stop_process_group
from tests.test_pool_wait import WORKER as RUN_ONE
from tests.test_pool_wait import dagster_home, wait_for
from zk_pipeline.db.models import AllocationDecision, ProofJob, VerifiedFact
from zk_pipeline.db.session import session_scope
from zk_pipeline.db.urls import with_psycopg2
from zk_pipeline.executors import celery_urls, pipeline_executor, worker_app
from zk_pipeline.settings import SettingsError, load_settings

PARTITIONS = [f"2026-11-22-{hour:02d}:00" for hour in range(4)]
WORKERS = ("prover1", "prover2")
PROVER_SLOTS = len(WORKERS)  # proofs in flight at once, for both backfills

# ------------------------------------------------------------------ the choice

def test_the_default_executor_is_in_process_and_celery_is_asked_for_by_name():
    assert pipeline_executor(load_settings({})).name == "in_process"
    # A broker alone switches nothing: a run sent to a broker no worker listens on would wait for ever.
    assert pipeline_executor(load_settings({"ZKP_CELERY_BROKER_URL": "redis://h:6379/0"})).name == "in_process"
    assert pipeline_executor(load_settings({"ZKP_EXECUTOR": "Celery"})).name == "celery"
    with pytest.raises(SettingsError, match="ZKP_EXECUTOR: must be one of 'in_process' or 'celery'"):
        load_settings({"ZKP_EXECUTOR": "k8s"})


def test_broker_and_backend_come_from_the_settings_or_the_database():
    db = "postgresql://zkp:pw@db.internal:5432/zkp"
    assert celery_urls(load_settings({"DATABASE_URL": db})) == (
        "sqla+postgresql+psycopg2://zkp:pw@db.internal:5432/zkp", "db+postgresql+psycopg2://zkp:pw@db.internal:5432/zkp")
    assert celery_urls(load_settings({"DATABASE_URL": db, "ZKP_CELERY_BROKER_URL": "redis://:pw@cache:6379/0"})) == (
        "redis://:pw@cache:6379/0", "redis://:pw@cache:6379/0")
    assert celery_urls(load_settings({"ZKP_CELERY_BROKER_URL": "amqp://guest@mq//"})) == ("amqp://guest@mq//", "rpc://")
    assert celery_urls(load_settings({"ZKP_CELERY_BROKER_URL": "amqp://guest@mq//",
                                      "ZKP_CELERY_BACKEND_URL": "redis://cache/1"})) == ("amqp://guest@mq//",
                                                                                         "redis://cache/1")
    with pytest.raises(SettingsError, match="ZKP_CELERY_BROKER_URL: unset, and no DATABASE_URL"):
        celery_urls(load_settings({"ZKP_EXECUTOR": "celery"}))


def test_the_worker_app_serves_the_step_task_on_the_settings_broker():
    app = worker_app(load_settings({"ZKP_CELERY_BROKER_URL": "redis://:pw@cache:6379/0"}))
    assert app.conf.broker_url == "redis://:pw@cache:6379/0" and app.conf.result_backend == "redis://:pw@cache:6379/0"
    assert "execute_plan" in app.tasks
    assert app.conf.task_acks_late is True and app.conf.worker_prefetch_multiplier == 1


# ------------------------------------------------------------------ a backfill on two workers

def backfill(env: dict[str, str]) -> dict:
    """Run ``PARTITIONS`` at once, each in a process of its own as a backfill's runs are; wall time and outcomes."""
    started = time.monotonic()
    procs = [subprocess.Popen([sys.executable, "-c", RUN_ONE, partition], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for partition in PARTITIONS]
    try:
        outputs = [proc.communicate(timeout=600)[0] for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    seconds = time.monotonic() - started
    runs = []
    for out in outputs:
        lines = [line.split() for line in out.splitlines() if line.startswith("RUN ")]
        assert lines and lines[-1][2] == "True", out[-5000:]
        runs.append(lines[-1][1])
    return {"seconds": seconds, "runs": runs}


def start_worker(name: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    """A Celery worker executing one step at a time in its own process (``--pool=solo``), in its own group."""
    with log.open("w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "zk_pipeline.executors", "worker", "--pool=solo", "-n",
             f"{name}@%h", "--loglevel=INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def records(url: str) -> dict:
    """What the backfill recorded, without ids or times that differ between two runs of the same hours."""
    with session_scope(url) as s:
        decisions = [(d.timestamp, d.decision_id, d.model_version, d.model_hash, d.jediswap_pct, d.ekubo_pct,
                      d.jediswap_risk, d.ekubo_risk)
                     for d in s.scalars(select(AllocationDecision).order_by(AllocationDecision.timestamp))]
        proofs = [(p.hour, p.status.value, p.statement_hash, p.proof_hash, p.program_hash, p.output_hash, p.fact_hash)
                  for p in s.scalars(select(ProofJob).order_by(ProofJob.hour))]
        facts = [(f.fact_hash, f.program_hash, f.output_hash, f.verification_hash, f.security_bits, f.verifier)
                 for f in s.scalars(select(VerifiedFact).order_by(VerifiedFact.fact_hash))]
    return {"decisions": decisions, "proofs": proofs, "facts": facts}


def step_workers(instance, run_ids) -> dict[tuple[str, str], str]:
    """(run, step) → the Celery worker that executed it, from the engine event each worker records."""
    from dagster._core.events import DagsterEventType

    found = {}
    for run_id in run_ids:
        for record in instance.get_records_for_run(run_id, of_type=DagsterEventType.ENGINE_EVENT).records:
            event = record.event_log_entry.dagster_event
            worker = event.engine_event_data.metadata.get("Celery worker")
            if worker is not None:
                found[(run_id, event.step_key)] = worker.value.split("@")[0]
    return found


@pytest.mark.slow
def test_a_backfill_spreads_over_two_celery_workers_with_the_records_of_one_process(
        db_url, scratch_db_url, tmp_path, monkeypatch):
    from dagster import DagsterInstance, DagsterRunStatus

    from zk_pipeline.db import repository
    from zk_pipeline.db.migrate import upgrade

    # Both backfills record their runs in one Dagster storage; each writes its own app database.
    upgrade(scratch_db_url)
    with session_scope(scratch_db_url) as s:
        repository.sync_model_registry(s)
    home = dagster_home(tmp_path, scratch_db_url)
    monkeypatch.setenv("DAGSTER_PG_URL", home["DAGSTER_PG_URL"])
    base = {**os.environ, **home}
    for name in ("ZKP_EXECUTOR", "ZKP_CELERY_BROKER_URL", "ZKP_CELERY_BACKEND_URL"):
        base.pop(name, None)

    with DagsterInstance.from_config(home["DAGSTER_HOME"]) as instance:
        instance.event_log_storage.set_concurrency_slots("prover", PROVER_SLOTS)

        in_process = backfill({**base, "DATABASE_URL": db_url})

        celery_env = {**base, "DATABASE_URL": scratch_db_url, "ZKP_EXECUTOR": "celery",
                      "ZKP_CELERY_BROKER_URL": "sqla+" + with_psycopg2(scratch_db_url)}
        logs = {name: tmp_path / f"{name}.log" for name in WORKERS}
        workers = {name: start_worker(name, celery_env, logs[name]) for name in WORKERS}
        try:
            for name, proc in workers.items():
                wait_for(lambda: proc.poll() is not None or " ready." in logs[name].read_text(), 120,
                         f"worker {name} to connect to the broker")
                assert proc.poll() is None, logs[name].read_text()[-3000:]
            on_celery = backfill(celery_env)
        finally:
            for proc in workers.values():
                stop_process_group(proc, 20)

        run_ids = on_celery["runs"]
        assert {instance.get_run_by_id(r).status for r in run_ids} == {DagsterRunStatus.SUCCESS}
        executed = step_workers(instance, run_ids)

    print(f"backfill of {len(PARTITIONS)} hours: in process {in_process['seconds']:.1f} s, "
          f"on {len(WORKERS)} Celery workers {on_celery['seconds']:.1f} s; steps per worker "
          + ", ".join(f"{w}: {sorted(s for (_, s), x in executed.items() if x == w)}" for w in WORKERS))
    # Every step of every run went through a worker, and both workers proved something.
    assert len(executed) == len(run_ids) * 7, executed
    provers = {worker for (_, step), worker in executed.items() if step == "allocation_proof"}
    assert provers == set(WORKERS), executed

    # The same hours, the same records, whichever executor ran them.
    same, spread = records(db_url), records(scratch_db_url)
    assert len(same["decisions"]) == len(same["proofs"]) == len(PARTITIONS) and same["facts"]
    assert spread == same
