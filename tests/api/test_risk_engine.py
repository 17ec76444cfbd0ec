"""Decisions endpoints against a real PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.main import create_app
from zk_pipeline.db import repository
from zk_pipeline.db.models import AllocationDecision, AllocationProposal, ModelVersionRecord
from zk_pipeline.db.session import session_scope
from zk_pipeline.risk.registry import get_version

URL = "/api/v1/risk-engine/decisions"
T0 = datetime(2026, 11, 20, 0, tzinfo=timezone.utc)


@pytest.fixture()
def client(db_url):
    with TestClient(create_app(db_url)) as c:
        yield c


def add_decision(url: str, hour: datetime, version: int = 1, model_hash: str | None = None, jedi_bps: int = 6000) -> str:
    """A proposal plus its decision, written the way the pipeline writes them."""
    model_hash = model_hash or get_version(version).hash_hex
    with session_scope(url) as s:
        proposal = AllocationProposal(
            hour=hour, model_version=version, model_hash=model_hash, jediswap_pct=jedi_bps,
            ekubo_pct=10_000 - jedi_bps, jediswap_risk=30, ekubo_risk=40, statement_hash="00" * 32, statement={},
        )
        s.add(proposal)
        s.flush()
        return repository.record_decision(s, proposal)


def add_model_version(url: str, version: int) -> str:
    model_hash = "0x" + format(version, "064x")
    with session_scope(url) as s:
        s.add(ModelVersionRecord(version=version, model_hash=model_hash, params={}, canonical_definition="{}",
                                 description=f"test version {version}", is_current=False))
    return model_hash


def hours(n: int) -> list[datetime]:
    return [T0 + timedelta(hours=i) for i in range(n)]


def iso(d: datetime) -> str:
    return d.isoformat().replace("+00:00", "Z")


def test_empty(client):
    r = client.get(URL)
    assert r.status_code == 200
    assert r.json() == {"items": [], "total": 0, "limit": 50, "offset": 0}


def test_pages_are_newest_first_and_cover_everything(client, db_url):
    ids = {add_decision(db_url, h): h for h in hours(7)}
    pages = [client.get(URL, params={"limit": 3, "offset": o}).json() for o in (0, 3, 6, 9)]
    assert [p["total"] for p in pages] == [7, 7, 7, 7]
    assert [len(p["items"]) for p in pages] == [3, 3, 1, 0]
    seen = [item for p in pages for item in p["items"]]
    assert [i["timestamp"] for i in seen] == [iso(h) for h in reversed(hours(7))]
    assert {i["decision_id"] for i in seen} == set(ids)
    assert pages[1]["limit"] == 3 and pages[1]["offset"] == 3


def test_same_hour_is_ordered_by_decision_id_descending(client, db_url):
    other_hash = add_model_version(db_url, 2)
    ids = [add_decision(db_url, T0), add_decision(db_url, T0, version=2, model_hash=other_hash),
           add_decision(db_url, T0 - timedelta(hours=1))]
    items = client.get(URL).json()["items"]
    assert [i["decision_id"] for i in items] == sorted(ids[:2], reverse=True) + [ids[2]]
    assert {i["model_version"] for i in items[:2]} == {1, 2}


def test_items_carry_every_decision_field(client, db_url):
    decision_id = add_decision(db_url, T0, jedi_bps=5500)
    (item,) = client.get(URL).json()["items"]
    assert item == {
        "decision_id": decision_id, "jediswap_pct": 5500, "ekubo_pct": 4500, "jediswap_risk": 30, "ekubo_risk": 40,
        "transaction_hash": None, "block_number": None, "timestamp": "2026-11-20T00:00:00Z", "proof_job_id": None,
        "model_version": 1, "model_hash": get_version(1).hash_hex,
    }


def test_time_range_is_start_inclusive_end_exclusive(client, db_url):
    hs = hours(6)
    for h in hs:
        add_decision(db_url, h)

    def stamps(**params):
        body = client.get(URL, params=params).json()
        assert body["total"] == len(body["items"])
        return [i["timestamp"] for i in body["items"]]

    assert stamps(start=iso(hs[1]), end=iso(hs[4])) == [iso(hs[3]), iso(hs[2]), iso(hs[1])]
    assert stamps(start=iso(hs[4])) == [iso(hs[5]), iso(hs[4])]
    assert stamps(end=iso(hs[1])) == [iso(hs[0])]
    assert stamps(start=iso(hs[1] + timedelta(seconds=1)), end=iso(hs[2] + timedelta(seconds=1))) == [iso(hs[2])]
    # Naive datetimes are UTC; explicit offsets are converted.
    assert stamps(start="2026-11-20T04:00:00") == [iso(hs[5]), iso(hs[4])]
    assert stamps(start="2026-11-20T06:00:00+02:00", end="2026-11-20T07:00:00+02:00") == [iso(hs[4])]
    # The total counts the whole filtered range, not the page.
    body = client.get(URL, params={"start": iso(hs[1]), "limit": 2}).json()
    assert body["total"] == 5 and len(body["items"]) == 2


@pytest.mark.parametrize("params", [
    {"start": "2026-11-20T05:00:00Z", "end": "2026-11-20T05:00:00Z"},
    {"start": "2026-11-20T06:00:00Z", "end": "2026-11-20T05:00:00Z"},
    {"start": "2026-11-20T07:00:00+02:00", "end": "2026-11-20T04:30:00"},
])
def test_empty_or_reversed_range_is_an_empty_page(client, params):
    """The schema allows any two date-times; [start, end) with start >= end holds no decision."""
    r = client.get(URL, params=params)
    assert r.status_code == 200, r.text
    assert r.json()["items"] == [] and r.json()["total"] == 0


@pytest.mark.parametrize("value", ["2026-11-20T05:00:00+20:00", "2026-11-20T05:00:00-23:59"])
def test_offsets_beyond_postgresqls_range_are_converted(client, value):
    """Python accepts offsets up to ±24 h, PostgreSQL only ±15:59: the value is converted to UTC first."""
    r = client.get(URL, params={"start": value})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("value", ["0.5", "1700000000", "-3"])
def test_numbers_are_not_date_times(client, value):
    r = client.get(URL, params={"start": value})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"][:2] == ["query", "start"] and "not a number" in r.json()["detail"][0]["msg"]


@pytest.mark.parametrize("params", [
    {"limit": 0}, {"limit": 501}, {"limit": "ten"}, {"offset": -1}, {"offset": 2**31},
    {"start": "yesterday"}, {"end": "2026-13-01T00:00:00Z"},
])
def test_invalid_query_parameters_are_rejected(client, params):
    r = client.get(URL, params=params)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"][:2] == ["query", next(iter(params))]


def test_limit_bounds_are_inclusive(client, db_url):
    add_decision(db_url, T0)
    assert client.get(URL, params={"limit": 1}).json()["limit"] == 1
    assert client.get(URL, params={"limit": 500}).json()["limit"] == 500


def test_get_one_decision(client, db_url):
    decision_id = add_decision(db_url, T0)
    r = client.get(f"/api/v1/risk-engine/decision/{decision_id}")
    assert r.status_code == 200
    assert r.json()["decision_id"] == decision_id and r.json()["timestamp"] == "2026-11-20T00:00:00Z"
    assert client.get(f"/api/v1/risk-engine/decision/{decision_id.upper()}").json()["decision_id"] == decision_id


def test_unknown_decision_is_404_with_reason(client, db_url):
    add_decision(db_url, T0)
    missing = str(uuid.uuid4())
    r = client.get(f"/api/v1/risk-engine/decision/{missing}")
    assert r.status_code == 404
    assert r.json() == {"detail": f"decision {missing} not found"}


@pytest.mark.parametrize("bad", ["not-a-uuid", "1234", "5b0f7a52-7c1e-4d55-9d0e-4f2a7d3c9e1"])
def test_malformed_decision_id_is_422(client, bad):
    r = client.get(f"/api/v1/risk-engine/decision/{bad}")
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["path", "decision_id"]


def test_decisions_written_by_the_pipeline(client, db_url, dagster_instance):
    """The real asset graph writes a decision; the API returns exactly what is stored."""
    from dagster import materialize

    from tests.helpers import pipeline_resources
    from zk_pipeline.definitions import all_assets

    result = materialize(all_assets, partition_key="2026-11-20-10:00", instance=dagster_instance,
                         resources=pipeline_resources(db_url))
    assert result.success
    with session_scope(db_url) as s:
        stored = s.scalars(select(AllocationDecision)).one()
    body = client.get(URL).json()
    assert body["total"] == 1
    item = body["items"][0]
    assert item == client.get(f"/api/v1/risk-engine/decision/{stored.decision_id}").json()
    assert item["decision_id"] == stored.decision_id
    assert item["timestamp"] == "2026-11-20T10:00:00Z"
    assert (item["jediswap_pct"], item["ekubo_pct"]) == (stored.jediswap_pct, stored.ekubo_pct)
    assert item["jediswap_pct"] + item["ekubo_pct"] == 10_000
    assert item["model_hash"] == get_version().hash_hex
