"""Execution through the API and Dagster: an admin records a request, the sensor makes one run of
``execution_job``, the run executes the decision against the Starknet node double, the GET reports it.

With ``ZKP_EXECUTION_AUTO`` on, the same sensor requests every decision recorded after it was switched on.
The sensor is evaluated and its runs executed in this process on a real instance (PostgreSQL storage),
as ``tests/api/dagster_work.py`` does for the other requests. The key-leak scan covers what Dagster
keeps of a run: its event log (messages and metadata), its run config and its tags.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest
from dagster import DagsterEventType, SensorResult, build_sensor_context
from dagster._serdes import serialize_value
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.main import create_app
from tests.api.dagster_work import evaluate, execute
from tests.api.test_admin import TOKEN, bearer, sha256
from tests.execution.conftest import HOUR, PRIVATE_KEY, record_decision, register_fact
from tests.execution.test_cli_and_secrets import _database_text
from tests.execution.test_keys import PASSWORD, keystore, secret_spellings
from zk_pipeline.db.models import ExecutionRequest
from zk_pipeline.db.session import session_scope
from zk_pipeline.execution_automation import execution_requests_sensor
from zk_pipeline.resources import DatabaseResource

EXECUTE = "/api/v1/risk-engine/execute-allocation"


@pytest.fixture()
def client(db_url, execution_env):
    execution_env.setenv("ZKP_ADMIN_TOKEN_SHA256", sha256(TOKEN))
    with TestClient(create_app(db_url)) as c:
        yield c


def run_requests(instance, db_url):
    """What the daemon would do on one tick: the sensor's run requests, each executed; the run results."""
    return [execute(instance, "execution_job", rr) for rr in evaluate(execution_requests_sensor, instance, db_url)]


def output_metadata(result) -> dict:
    (event,) = [e for e in result.all_events if e.event_type == DagsterEventType.STEP_OUTPUT]
    return {k: v.value for k, v in event.step_output_data.metadata.items()}


def test_a_request_is_recorded_once_and_becomes_one_dry_run(client, db_url, dagster_instance, node):
    made = record_decision(db_url)
    register_fact(node, made.fact_hash)
    assert client.post(EXECUTE, json={"decision_id": made.decision_id}).status_code == 401
    first = client.post(EXECUTE, json={"decision_id": made.decision_id.upper()}, headers=bearer(TOKEN))
    assert first.status_code == 202, first.text
    body = first.json()
    request_id, status_url = body["request"]["request_id"], body["status_url"]
    assert body["request"]["state"] == "pending" and body["request"]["send"] is False
    assert status_url == f"/api/v1/risk-engine/execution/{made.decision_id}" == first.headers["location"]
    again = client.post(EXECUTE, json={"decision_id": made.decision_id}, headers=bearer(TOKEN))
    assert again.status_code == 200 and again.json()["already_requested"] is True
    assert again.json()["request"]["request_id"] == request_id
    waiting = client.get(status_url).json()
    assert waiting["status"] == "requested" and waiting["transaction_hash"] is None
    # Sending is off in this deployment: a request to send is refused, the open one is untouched.
    refused = client.post(EXECUTE, json={"decision_id": made.decision_id, "send": True}, headers=bearer(TOKEN))
    assert refused.status_code == 409 and "ZKP_EXECUTION_SEND" in refused.json()["detail"]
    for body in ({"decision_id": made.decision_id, "send": 0}, {"decision_id": made.decision_id, "sned": False}):
        assert client.post(EXECUTE, json=body, headers=bearer(TOKEN)).status_code == 422  # strict, no stray keys

    (result,) = run_requests(dagster_instance, db_url)
    assert result.success
    assert evaluate(execution_requests_sensor, dagster_instance, db_url) == []  # one run per request
    assert node.sent == {}  # a dry run sends nothing
    state = client.get(status_url).json()
    assert state["status"] == "prepared" and state["executed"] is False
    assert state["transaction_hash"].startswith("0x") and state["nonce"] == 0 and state["block_number"] is None
    assert state["request"]["state"] == "finished" and state["request"]["run_id"] == result.run_id
    run = dagster_instance.get_run_by_id(result.run_id)
    assert run.tags["zkp/execution_request_id"] == request_id and run.tags["zkp/launched_by"] == "api"
    meta = output_metadata(result)
    assert meta["status"] == "prepared" and meta["transaction_hash"] == state["transaction_hash"]
    assert meta["fee"].startswith("not charged; at most ") and meta["max_fee_fri"] > 0
    # A dry run settles nothing: the decision may be requested again (a new request, a new run).
    later = client.post(EXECUTE, json={"decision_id": made.decision_id}, headers=bearer(TOKEN))
    assert later.status_code == 202 and later.json()["request"]["request_id"] != request_id


def test_a_refused_decision_closes_its_request_with_the_reason(client, db_url, dagster_instance, node):
    made = record_decision(db_url, verified=False)
    r = client.post(EXECUTE, json={"decision_id": made.decision_id}, headers=bearer(TOKEN))
    assert r.status_code == 202
    (result,) = run_requests(dagster_instance, db_url)
    assert not result.success and node.sent == {}
    state = client.get(r.json()["status_url"]).json()
    assert state["status"] == "refused" and state["transaction_hash"] is None
    assert state["request"]["state"] == "failed" and "is not verified" in state["request"]["error"]
    unknown = "0" * 8 + "-0000-4000-8000-" + "0" * 12
    assert client.post(EXECUTE, json={"decision_id": unknown}, headers=bearer(TOKEN)).status_code == 404
    assert client.get(f"/api/v1/risk-engine/execution/{unknown}").status_code == 404


def test_a_dry_run_and_a_sent_run_leave_the_key_nowhere(client, db_url, dagster_instance, node, execution_env,
                                                         tmp_path, caplog):
    made = record_decision(db_url)
    register_fact(node, made.fact_hash)
    execution_env.delenv("ZKP_EXECUTION_PRIVATE_KEY")
    execution_env.setenv("ZKP_EXECUTION_KEYSTORE", str(keystore(tmp_path)))
    execution_env.setenv("ZKP_EXECUTION_KEYSTORE_PASSWORD", PASSWORD)
    execution_env.setenv("ZKP_EXECUTION_SEND", "true")
    responses, results = [], []
    with caplog.at_level(logging.DEBUG):
        for body in ({"decision_id": made.decision_id, "send": False}, {"decision_id": made.decision_id}):
            responses.append(client.post(EXECUTE, json=body, headers=bearer(TOKEN)))
            results += run_requests(dagster_instance, db_url)
        responses.append(client.get(f"/api/v1/risk-engine/execution/{made.decision_id}"))
        responses.append(client.post(EXECUTE, json={"decision_id": made.decision_id}, headers=bearer(TOKEN)))
    assert [r.status_code for r in responses] == [202, 202, 200, 409]
    assert [r.success for r in results] == [True, True] and len(node.invokes()) == 1
    state = responses[2].json()
    assert state["status"] == "accepted" and state["executed"] is True and state["block_number"] is not None
    assert int(state["transaction_hash"], 16) in node.sent and state["actual_fee"]["unit"] == "FRI"
    sent_meta = output_metadata(results[1])
    assert sent_meta["status"] == "accepted" and sent_meta["fee"].endswith(" FRI")
    assert not sent_meta["fee"].startswith("not charged")
    dagster = []
    for result in results:
        run = dagster_instance.get_run_by_id(result.run_id)
        dagster.append(json.dumps({"config": run.run_config, "tags": run.tags}, default=str))
        dagster += [serialize_value(entry) for entry in dagster_instance.all_logs(result.run_id)]
    seen = {"dagster": "\n".join(dagster), "api": "\n".join(r.text for r in responses),
            "logs": "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records),
            "database": _database_text(db_url), "node": json.dumps([r.body for r in node.requests], default=str)}
    assert "accepted" in seen["dagster"] and state["transaction_hash"] in seen["dagster"]
    for where, content in seen.items():
        for secret in secret_spellings(PRIVATE_KEY) + [PASSWORD]:
            assert secret not in content, f"the key or its password shows in {where}"


def tick(instance, db_url, cursor):
    """One evaluation of the sensor with the cursor the daemon kept; (run requests, the new cursor)."""
    context = build_sensor_context(instance=instance, resources={"database": DatabaseResource(url=db_url)},
                                   cursor=cursor)
    result = execution_requests_sensor(context)
    return (list(result.run_requests or []) if isinstance(result, SensorResult) else []), context.cursor


def test_auto_executes_every_decision_recorded_after_it_was_switched_on(db_url, dagster_instance, node,
                                                                        execution_env):
    before = record_decision(db_url, hour=HOUR - timedelta(hours=1))
    assert tick(dagster_instance, db_url, None) == ([], None)  # off: nothing
    execution_env.setenv("ZKP_EXECUTION_AUTO", "true")
    requested, cursor = tick(dagster_instance, db_url, None)
    assert requested == [] and cursor is not None  # switched on: only what is recorded from now on
    made = record_decision(db_url)
    register_fact(node, made.fact_hash)
    (request,), cursor = tick(dagster_instance, db_url, cursor)
    assert request.tags["zkp/launched_by"] == "auto"
    result = execute(dagster_instance, "execution_job", request)
    assert result.success and output_metadata(result)["status"] == "prepared" and node.sent == {}
    assert tick(dagster_instance, db_url, cursor)[0] == []  # never twice
    with session_scope(db_url) as s:
        requested_for = {r.decision_id: r.origin for r in s.scalars(select(ExecutionRequest))}
    assert requested_for == {made.decision_id: "auto"} and before.decision_id not in requested_for
    execution_env.setenv("ZKP_EXECUTION_AUTO", "false")
    assert tick(dagster_instance, db_url, cursor) == ([], None)  # off again: the cursor is cleared
