"""A request whose ``execution_job`` run failed for good is closed by ``execution_run_failures_sensor``.

The op closes its request itself on success and on a refusal; here the op fails in a way it does not
handle (an unexpected error from the execution, as a dying node client would raise), so the run fails
with the request still ``launched``. The run-failure sensor, evaluated on the real instance with the
run's own failure event, closes it with the run's error, secrets masked; a failure that Dagster will
retry leaves it open for the retry.
"""

from __future__ import annotations

import pytest
from dagster import DagsterEventType, SkipReason, build_run_status_sensor_context
from fastapi.testclient import TestClient

from api.main import create_app
from tests.api.dagster_work import evaluate, execute
from tests.api.test_admin import TOKEN, bearer, sha256
from tests.execution.conftest import record_decision
from zk_pipeline.db.models import ExecutionRequest, ExecutionRequestState
from zk_pipeline.db.session import session_scope
from zk_pipeline.execution_automation import execution_requests_sensor, execution_run_failures_sensor
from zk_pipeline.resources import DatabaseResource

EXECUTE = "/api/v1/risk-engine/execute-allocation"
#: A node URL with its key in the path, as some providers give them: it must not reach the request's error.
NODE_KEY = "Zq8vN2kLr5TxW7yB4mC1dF6gH3jP9sAe"
NODE_URL = f"https://starknet-sepolia.example-rpc.io/v3/{NODE_KEY}"


@pytest.fixture()
def client(db_url, execution_env):
    execution_env.setenv("ZKP_ADMIN_TOKEN_SHA256", sha256(TOKEN))
    with TestClient(create_app(db_url)) as c:
        yield c


def failing_execution(monkeypatch):
    def execute_decision(*args, **kwargs):
        raise ConnectionError(f"the node at {NODE_URL} hung up mid-receipt")

    monkeypatch.setattr("zk_pipeline.execution.service.execute_decision", execute_decision)


def failed_run(client, db_url, instance, monkeypatch):
    """A decision, its request, and the request's run, failed with the request left ``launched``."""
    made = record_decision(db_url)
    r = client.post(EXECUTE, json={"decision_id": made.decision_id}, headers=bearer(TOKEN))
    assert r.status_code == 202, r.text
    request_id = r.json()["request"]["request_id"]
    failing_execution(monkeypatch)
    (run_request,) = evaluate(execution_requests_sensor, instance, db_url)
    result = execute(instance, "execution_job", run_request)
    assert not result.success
    with session_scope(db_url) as s:
        assert s.get(ExecutionRequest, request_id).state == ExecutionRequestState.launched
    return made.decision_id, request_id, instance.get_run_by_id(result.run_id)


def evaluate_failure(instance, run, db_url):
    (record,) = instance.get_records_for_run(run.run_id, of_type=DagsterEventType.RUN_FAILURE).records
    context = build_run_status_sensor_context(
        sensor_name=execution_run_failures_sensor.name, dagster_event=record.event_log_entry.dagster_event,
        dagster_instance=instance, dagster_run=run, resources={"database": DatabaseResource(url=db_url)},
    ).for_run_failure()
    return execution_run_failures_sensor(context)


def test_a_request_whose_run_failed_is_closed_with_the_runs_error(client, db_url, dagster_instance, monkeypatch):
    decision_id, request_id, run = failed_run(client, db_url, dagster_instance, monkeypatch)
    assert evaluate_failure(dagster_instance, run, db_url) is None
    with session_scope(db_url) as s:
        request = s.get(ExecutionRequest, request_id)
        assert request.state == ExecutionRequestState.failed and request.finished_at is not None
        error = request.error
    assert error.startswith(f"run {run.run_id} failed: execute_requested_decision: ")
    assert "ConnectionError" in error or "hung up mid-receipt" in error, error
    assert NODE_KEY not in error and "starknet-sepolia.example-rpc.io" in error
    view = client.get(f"/api/v1/risk-engine/execution/{decision_id}").json()
    assert view["status"] == "refused", view
    assert NODE_KEY not in str(view) and f"run {run.run_id} failed" in str(view)
    # Evaluated again (the daemon may see the event twice): nothing changes.
    assert isinstance(evaluate_failure(dagster_instance, run, db_url), SkipReason)
    with session_scope(db_url) as s:
        assert s.get(ExecutionRequest, request_id).error == error
    # The decision can be requested again: a new request, not the closed one.
    again = client.post(EXECUTE, json={"decision_id": decision_id}, headers=bearer(TOKEN))
    assert again.status_code == 202 and again.json()["request"]["request_id"] != request_id


def test_a_failure_dagster_will_retry_leaves_the_request_to_the_retry(client, db_url, dagster_instance, monkeypatch):
    _, request_id, run = failed_run(client, db_url, dagster_instance, monkeypatch)
    dagster_instance.add_run_tags(run.run_id, {"dagster/will_retry": "true"})
    skipped = evaluate_failure(dagster_instance, dagster_instance.get_run_by_id(run.run_id), db_url)
    assert isinstance(skipped, SkipReason) and "will be retried" in skipped.skip_message
    with session_scope(db_url) as s:
        assert s.get(ExecutionRequest, request_id).state == ExecutionRequestState.launched


def test_the_sensor_is_in_the_code_location():
    from zk_pipeline.definitions import defs

    sensor = defs.resolve_sensor_def("execution_run_failures_sensor")
    assert sensor.default_status.value == "RUNNING"
