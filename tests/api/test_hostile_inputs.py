"""Hostile request bodies get a 4xx with a reason, over real HTTP, and never a 500 or a stuck job."""

from __future__ import annotations

import copy
import json

import httpx
import pytest
from sqlalchemy import select

from tests.api.test_proofs import API, small_statement
from zk_pipeline.db.models import ProofJob
from zk_pipeline.db.session import session_scope


@pytest.fixture()
def http(live_server):
    host, port = live_server
    with httpx.Client(base_url=f"http://{host}:{port}", timeout=30) as c:
        yield c


def _statement(**changes) -> dict:
    d = copy.deepcopy(small_statement().to_dict())
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        node = d
        for key in parents:
            node = node[key]
        if value is KeyError:
            del node[leaf]
        else:
            node[leaf] = value
    return d


def _post_raw(http, path: str, body: str | bytes):
    return http.post(path, content=body, headers={"content-type": "application/json"})


@pytest.mark.parametrize("body, reason", [
    ("[" * 10000 + "]" * 10000, "not valid JSON"),
    ('{"hour": ' + "9" * 5000 + "}", "not valid JSON"),
    (b'{"hour": "\xff\xfe"}', "not valid JSON"),
])
def test_unusable_json_is_a_422(http, body, reason):
    r = _post_raw(http, f"{API}/generate", body)
    assert r.status_code == 422 and reason in r.json()["detail"], r.text[:300]


@pytest.mark.parametrize("changes, reason", [
    ({"model": [1]}, "model must be a JSON object"),
    ({"model": "v1"}, "model must be a JSON object"),
    ({"model__params": []}, "model.params must be an object"),
    ({"model__version": 2**31}, "model.version must be an integer"),
    ({"model__version": 1.9}, "model.version must be an integer"),
    ({"model__version": True}, "model.version must be an integer"),
    ({"model__version": -5}, "model.version must be an integer"),
    ({"outputz": {}}, "unknown keys ['outputz']"),
    ({"model__extra": 1}, "model: unknown keys ['extra']"),
    ({"protocols__ekubo__prices": "1" * 32}, "expected a JSON array of integers"),
    ({"protocols__ekubo__tvl": KeyError}, "missing ['tvl']"),
    ({"hour": "9999-12-31T23:00:00-14:00"}, "'hour' must be"),  # year 10000 in UTC
    ({"hour": "0001-01-01T00:00:00Z"}, "years 1970..9998"),
    ({"hour": "2026-11-20T10:00:00+05:30"}, "hour boundary in UTC"),
    ({"hour": "x" * 1_000_000}, "ISO-8601"),
])
def test_malformed_statements_are_a_422_with_the_place_named(http, changes, reason):
    r = http.post(f"{API}/generate", json=_statement(**{k: v for k, v in changes.items()}))
    assert r.status_code == 422, r.text[:300]
    detail = r.json()["detail"]
    assert reason in detail and len(detail) < 2000, detail[:300]


def test_an_hour_with_an_offset_is_the_same_utc_hour(http, db_url):
    """``15:00+05:00`` is 10:00 UTC: one job, whose statement and hour both say 10:00Z."""
    r1 = http.post(f"{API}/generate", json=_statement())
    r2 = http.post(f"{API}/generate", json=_statement(hour="2026-11-20T15:00:00+05:00"))
    assert r1.status_code in (200, 202) and r2.status_code in (200, 202), (r1.text, r2.text)
    assert r1.json()["proof_job_id"] == r2.json()["proof_job_id"]
    with session_scope(db_url) as s:
        jobs = s.scalars(select(ProofJob)).all()
        assert [(j.statement["hour"], j.hour.isoformat()) for j in jobs] == [
            ("2026-11-20T10:00:00Z", "2026-11-20T10:00:00+00:00")]


@pytest.mark.parametrize("body", ['{"partition_key": NaN}', '{"partition_key": Infinity}', '{"partition_key": [NaN]}'])
def test_non_finite_numbers_in_an_orchestration_request_are_a_422(http, body):
    r = _post_raw(http, "/api/v1/risk-engine/orchestrate-allocation", body)
    assert r.status_code == 422, r.text[:300]
    assert json.loads(r.text)["detail"]


def test_a_misspelled_orchestration_key_launches_nothing(http):
    r = http.post("/api/v1/risk-engine/orchestrate-allocation", json={"partitionKey": "2026-11-20-10:00"})
    assert r.status_code == 422 and "partitionKey" in r.text


def test_a_huge_input_is_not_echoed_back_whole(http):
    r = http.post("/api/v1/risk-engine/orchestrate-allocation", json={"partition_key": "x" * 1_000_000})
    assert r.status_code == 422 and len(r.content) < 5000


def test_a_json_body_that_is_not_utf8_is_the_documented_422(http):
    r = http.post("/api/v1/risk-engine/orchestrate-allocation", content=b"N\xf0\x9f(|\xff=",
                    headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["type"] == "json_invalid" and r.json()["detail"][0]["loc"] == ["body"]
