"""Orchestration: the API records "run this hour"; Dagster turns each request into exactly one run.

The API reads Dagster's run storage (a real instance on PostgreSQL, opened from
``DAGSTER_HOME`` as ``zkp run`` configures it) and never starts a run itself.
The sensor is evaluated and its run executed here as the daemon would
(``tests/api/dagster_work.py``); ``test_requests_through_dagster.py`` runs the
real daemon.
"""

from __future__ import annotations

import json
import shutil
import threading
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest
from dagster import DagsterInstance, RunRequest, build_schedule_context
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.main import create_app
from tests.api.conftest import api_process
from tests.api.dagster_work import evaluate, execute
from zk_pipeline.db.models import AllocationDecision, OrchestrationRequest
from zk_pipeline.db.session import session_scope
from zk_pipeline.db.urls import with_psycopg2

ROOT = Path(__file__).resolve().parents[2]
API = "/api/v1/risk-engine"
HOUR = "2026-11-20-10:00"


@pytest.fixture()
def dagster_home(tmp_path, monkeypatch, db_url) -> Path:
    """The repository's dagster.yaml on the test database, as ``zkp run`` sets it up."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "deploy" / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_PG_URL", with_psycopg2(db_url))
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


@pytest.fixture()
def instance(dagster_home):
    with DagsterInstance.from_config(str(dagster_home)) as inst:
        for run in inst.get_runs():  # the database is shared by the tests of this worker
            inst.delete_run(run.run_id)
        yield inst


@pytest.fixture()
def client(db_url, instance):
    with TestClient(create_app(db_url)) as c:
        yield c


def requests_in_db(db_url: str) -> list[tuple[str, str, str | None]]:
    with session_scope(db_url) as s:
        return [(r.partition_key, r.state.value, r.run_id) for r in s.scalars(select(OrchestrationRequest))]


@pytest.mark.slow
def test_a_request_becomes_one_run_whose_state_comes_from_run_storage(client, db_url, instance):
    from zk_pipeline.automation import run_requests_sensor

    first = client.post(f"{API}/orchestrate-allocation", json={"partition_key": HOUR})
    assert first.status_code == 202, first.text
    body = first.json()
    assert body["already_running"] is False and body["run_id"] is None and body["mode"] == "dagster"
    request_id = body["request_id"]
    assert body["status_url"] == f"{API}/orchestration/{request_id}" == first.headers["location"]
    # Asked again before Dagster took it up: the same request, 200.
    again = client.post(f"{API}/orchestrate-allocation", json={"partition_key": HOUR})
    assert again.status_code == 200 and again.json()["request_id"] == request_id
    assert again.json()["already_running"] is True
    waiting = client.get(body["status_url"]).json()
    assert (waiting["status"], waiting["finished"], waiting["partition_key"], waiting["run_id"]) == (
        "REQUESTED", False, HOUR, None)

    # The sensor asks for one run, under a key Dagster never launches twice, however often it ticks.
    (run_request,) = evaluate(run_requests_sensor, instance, db_url)
    assert evaluate(run_requests_sensor, instance, db_url)[0].run_key == run_request.run_key == f"request-{request_id}"
    assert run_request.partition_key == HOUR and run_request.tags["zkp/request_id"] == request_id
    result = execute(instance, "allocation_job", run_request)
    assert result.success
    assert evaluate(run_requests_sensor, instance, db_url) == []  # the request now names its run
    assert requests_in_db(db_url) == [(HOUR, "launched", result.run_id)]

    for follow in (request_id, result.run_id):
        state = client.get(f"{API}/orchestration/{follow}").json()
        assert (state["status"], state["finished"], state["partition_key"]) == ("SUCCESS", True, HOUR), state
        assert state["run_id"] == result.run_id and state["request_id"] == request_id
        assert state["started_at"] and state["ended_at"] and state["started_at"] <= state["ended_at"]
        assert state["failed_step"] is None and state["errors"] == []
    with session_scope(db_url) as s:
        assert s.scalar(select(func.count()).select_from(AllocationDecision)) == 1
    # A finished hour may be asked for again: a new request.
    rerun = client.post(f"{API}/orchestrate-allocation", json={"partition_key": HOUR})
    assert rerun.status_code == 202 and rerun.json()["request_id"] != request_id


def test_a_failed_run_names_its_step_and_error_without_secrets(client, db_url, instance, monkeypatch):
    from zk_pipeline.automation import run_requests_sensor

    request_id = client.post(f"{API}/orchestrate-allocation", json={"partition_key": HOUR}).json()["request_id"]
    (run_request,) = evaluate(run_requests_sensor, instance, db_url)
    # The run's database (its resources read DATABASE_URL) is unreachable: the first step fails.
    monkeypatch.setenv("DATABASE_URL", "postgresql://zkp:hunter2-S3CRET@127.0.0.1:9/zkp")
    assert not execute(instance, "allocation_job", run_request).success
    monkeypatch.setenv("DATABASE_URL", db_url)
    state = client.get(f"{API}/orchestration/{request_id}").json()
    assert state["status"] == "FAILURE" and state["finished"] and state["ended_at"], state
    assert state["failed_step"] == "protocol_metrics"
    step = next(e for e in state["errors"] if e.startswith("step protocol_metrics:"))
    assert "Connection refused" in step or "connection" in step.lower()  # the underlying error, not Dagster's wrapper
    assert "S3CRET" not in json.dumps(state)


def test_an_hour_with_a_run_in_progress_returns_that_run_and_the_schedule_leaves_it(client, db_url, instance):
    from zk_pipeline.automation import hourly_schedule
    from zk_pipeline.definitions import defs

    job = defs.resolve_job_def("allocation_job")
    queued = instance.create_run_for_job(job_def=job, tags={"dagster/partition": HOUR})  # e.g. the schedule's
    r = client.post(f"{API}/orchestrate-allocation", json={"partition_key": HOUR})
    assert r.status_code == 200, r.text
    assert (r.json()["run_id"], r.json()["request_id"], r.json()["already_running"]) == (queued.run_id, None, True)
    assert r.json()["status_url"] == f"{API}/orchestration/{queued.run_id}"
    assert requests_in_db(db_url) == []
    state = client.get(r.json()["status_url"]).json()
    assert state["run_id"] == queued.run_id and state["partition_key"] == HOUR and not state["finished"]

    # The schedule's tick for that hour (at 11:05) leaves it alone; for the next hour it asks for a run.
    tick = datetime(2026, 11, 20, 11, 5, tzinfo=timezone.utc)
    with build_schedule_context(instance=instance, scheduled_execution_time=tick,
                                repository_def=defs.get_repository_def()) as context:
        skipped = hourly_schedule.evaluate_tick(context)
    assert not skipped.run_requests and queued.run_id in skipped.skip_message
    later = datetime(2026, 11, 20, 12, 5, tzinfo=timezone.utc)
    with build_schedule_context(instance=instance, scheduled_execution_time=later,
                                repository_def=defs.get_repository_def()) as context:
        (request,) = hourly_schedule.evaluate_tick(context).run_requests
    assert isinstance(request, RunRequest) and request.partition_key == "2026-11-20-11:00"


def test_the_same_request_from_two_processes_at_once_is_one_request_and_one_run(db_url, instance, dagster_home,
                                                                                tmp_path):
    from zk_pipeline.automation import run_requests_sensor

    env = {"DATABASE_URL": db_url, "DAGSTER_HOME": str(dagster_home), "DAGSTER_PG_URL": with_psycopg2(db_url)}
    with api_process(env, tmp_path / "a.log") as (_, base_a), api_process(env, tmp_path / "b.log") as (_, base_b):
        answers, start = {}, threading.Barrier(2)

        def ask(base: str) -> None:
            start.wait()
            answers[base] = httpx.post(f"{base}{API}/orchestrate-allocation", json={"partition_key": HOUR},
                                       timeout=30)

        threads = [threading.Thread(target=ask, args=(b,)) for b in (base_a, base_b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    codes = sorted(a.status_code for a in answers.values())
    assert codes == [200, 202], [a.text for a in answers.values()]
    assert len({a.json()["request_id"] for a in answers.values()}) == 1
    assert requests_in_db(db_url) == [(HOUR, "pending", None)]
    assert len(evaluate(run_requests_sensor, instance, db_url)) == 1


def test_orchestrate_refuses_bad_requests(client, monkeypatch):
    for key, reason in (("2026-11-20 10:00", "is not an hour"), ("2025-01-01-00:00", "before the first partition"),
                        ("2099-01-01-00:00", "has not closed yet"), ("2026-02-30-10:00", "2026-02-30-10:00")):
        r = client.post(f"{API}/orchestrate-allocation", json={"partition_key": key})
        assert r.status_code == 422 and reason in r.json()["detail"], (key, r.text)
    r = client.get(f"{API}/orchestration/00000000-0000-4000-8000-000000000000")
    assert r.status_code == 404 and "no orchestration request or run" in r.json()["detail"]
    monkeypatch.delenv("DAGSTER_HOME")
    r = client.post(f"{API}/orchestrate-allocation", json={"partition_key": HOUR})
    assert r.status_code == 503 and "DAGSTER_HOME is not set" in r.json()["detail"]


def test_the_catch_up_automation_takes_missing_older_hours_never_the_newest_nor_one_in_progress(instance):
    """At 12:30 the newest closed hour (11:00) is the schedule's; 06:00-10:00 are caught up, each as one run
    of all seven assets; an hour with a run in progress is left alone."""
    from dagster import AssetKey, evaluate_automation_conditions

    from zk_pipeline.definitions import defs

    at = datetime(2026, 11, 25, 12, 30, tzinfo=timezone.utc)
    result = evaluate_automation_conditions(defs=defs, instance=instance, evaluation_time=at)
    expected = [f"2026-11-25-{h:02d}:00" for h in range(6, 11)]
    for key in defs.resolve_all_asset_keys():
        assert sorted(result.get_requested_partitions(key)) == expected, key
    instance.create_run_for_job(job_def=defs.resolve_job_def("allocation_job"),
                                tags={"dagster/partition": "2026-11-25-08:00"})
    result = evaluate_automation_conditions(defs=defs, instance=instance, evaluation_time=at)
    assert sorted(result.get_requested_partitions(AssetKey("allocation_decision"))) == [
        k for k in expected if k != "2026-11-25-08:00"]


def test_the_schedule_skips_an_hour_before_the_first_partition(instance):
    from zk_pipeline.automation import hourly_schedule
    from zk_pipeline.definitions import defs

    with build_schedule_context(instance=instance, repository_def=defs.get_repository_def(),
                                scheduled_execution_time=datetime(2025, 6, 1, 3, 5, tzinfo=timezone.utc)) as context:
        data = hourly_schedule.evaluate_tick(context)
    assert not data.run_requests and "before the first partition" in data.skip_message
