"""Decisions endpoints against a real PostgreSQL."""

from __future__ import annotations

import base64
import hashlib
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, inspect, select, text

from api.main import create_app
from zk_pipeline.db import repository
from zk_pipeline.db.models import AllocationDecision, AllocationProposal, ModelVersionRecord
from zk_pipeline.db.session import session_scope
from zk_pipeline.risk.registry import get_version
from zk_pipeline.services import decisions

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
    assert r.json() == {"items": [], "total": 0, "limit": 50, "offset": 0, "next_cursor": None}


def test_pages_are_newest_first_and_cover_everything(client, db_url):
    ids = {add_decision(db_url, h): h for h in hours(7)}
    pages = [client.get(URL, params={"limit": 3, "offset": o}).json() for o in (0, 3, 6, 9)]
    assert [p["total"] for p in pages] == [7, 7, 7, 7]
    assert [len(p["items"]) for p in pages] == [3, 3, 1, 0]
    seen = [item for p in pages for item in p["items"]]
    assert [i["timestamp"] for i in seen] == [iso(h) for h in reversed(hours(7))]
    assert {i["decision_id"] for i in seen} == set(ids)
    assert pages[1]["limit"] == 3 and pages[1]["offset"] == 3
    # Offset pages point at the page after them too, so a client can switch to cursors.
    assert [p["next_cursor"] is None for p in pages] == [False, False, True, True]
    after_first = client.get(URL, params={"limit": 3, "cursor": pages[0]["next_cursor"]}).json()
    assert after_first["items"] == pages[1]["items"]


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


# --- Keyset pagination --------------------------------------------------------------------------------


def walk(client, limit: int, **params) -> list[dict]:
    """Every page from the first by following ``next_cursor``; each cursor page leaves ``total`` uncounted."""
    body = client.get(URL, params={"limit": limit, **params}).json()
    pages = [body]
    while body["next_cursor"] is not None:
        body = client.get(URL, params={"limit": limit, "cursor": body["next_cursor"], **params}).json()
        assert body["total"] is None and body["offset"] == 0
        pages.append(body)
    assert all(len(p["items"]) == limit for p in pages[:-1]) and 0 < len(pages[-1]["items"]) <= limit
    return [item for p in pages for item in p["items"]]


def decisions_with_ties(db_url) -> list[tuple[str, str]]:
    """Ten hours, three of them with a second model version's decision: (timestamp, decision_id), in
    the list's order."""
    other_hash = add_model_version(db_url, 2)
    rows = [(iso(h), add_decision(db_url, h)) for h in hours(10)]
    rows += [(iso(h), add_decision(db_url, h, version=2, model_hash=other_hash)) for h in hours(10)[3:6]]
    return sorted(rows, reverse=True)


@pytest.mark.parametrize("limit", [1, 2, 3, 13, 14])
def test_cursor_walks_every_decision_once_in_order(client, db_url, limit):
    expected = decisions_with_ties(db_url)
    seen = walk(client, limit)
    assert [(i["timestamp"], i["decision_id"]) for i in seen] == expected


@pytest.mark.parametrize("limit", [1, 2, 4])
def test_cursor_combines_with_start_and_end(client, db_url, limit):
    expected = decisions_with_ties(db_url)
    hs = hours(10)
    params = {"start": iso(hs[2]), "end": iso(hs[8])}
    inside = [row for row in expected if params["start"] <= row[0] < params["end"]]
    assert len(inside) == 9
    seen = walk(client, limit, **params)
    assert [(i["timestamp"], i["decision_id"]) for i in seen] == inside
    # Each bound alone, too.
    assert [i["timestamp"] for i in walk(client, limit, start=iso(hs[7]))] == [r[0] for r in expected
                                                                               if r[0] >= iso(hs[7])]
    assert [i["timestamp"] for i in walk(client, limit, end=iso(hs[4]))] == [r[0] for r in expected
                                                                            if r[0] < iso(hs[4])]


def test_total_is_counted_on_the_first_page_or_when_asked(client, db_url):
    decisions_with_ties(db_url)
    first = client.get(URL, params={"limit": 5}).json()
    assert first["total"] == 13
    cursor = first["next_cursor"]
    assert client.get(URL, params={"limit": 5, "cursor": cursor}).json()["total"] is None
    assert client.get(URL, params={"limit": 5, "cursor": cursor, "include_total": "true"}).json()["total"] == 13
    assert client.get(URL, params={"limit": 5, "include_total": "false"}).json()["total"] is None
    ranged = client.get(URL, params={"start": iso(hours(10)[8]), "cursor": cursor, "include_total": True}).json()
    assert ranged["total"] == 2


def test_offset_after_a_cursor_skips_from_the_cursor(client, db_url):
    expected = decisions_with_ties(db_url)
    cursor = client.get(URL, params={"limit": 2}).json()["next_cursor"]
    body = client.get(URL, params={"limit": 3, "offset": 4, "cursor": cursor}).json()
    assert [(i["timestamp"], i["decision_id"]) for i in body["items"]] == expected[6:9]
    assert body["offset"] == 4


def test_the_last_page_has_no_cursor_even_when_full(client, db_url):
    for h in hours(4):
        add_decision(db_url, h)
    first = client.get(URL, params={"limit": 2}).json()
    last = client.get(URL, params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert len(last["items"]) == 2 and last["next_cursor"] is None


def _with_checksum(payload: bytes) -> str:
    """A cursor whose checksum matches: what only a deliberate forgery of the format could produce."""
    raw = payload + hashlib.sha256(payload).digest()[:6]
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _cursor_of_page_one(client, db_url) -> str:
    for h in hours(3):
        add_decision(db_url, h)
    return client.get(URL, params={"limit": 1}).json()["next_cursor"]


def test_tampered_cursors_are_422_with_reason(client, db_url):
    good = _cursor_of_page_one(client, db_url)
    raw = base64.urlsafe_b64decode(good + "=" * (-len(good) % 4))
    decision_id = raw.decode("latin-1").split("|")[2][:36]
    flipped_digit = raw.replace(b"2026-11-20T02", b"2026-11-20T03")
    assert flipped_digit != raw
    tampered = [
        good[:-1] + ("A" if good[-1] != "A" else "B"),  # last character changed
        good[:-4],  # cut short
        base64.urlsafe_b64encode(flipped_digit).decode().rstrip("="),  # another hour, old checksum
        "A" + good,  # shifted
    ]
    for cursor in tampered:
        r = client.get(URL, params={"cursor": cursor})
        assert r.status_code == 422, cursor
        (error,) = r.json()["detail"]
        assert error["loc"] == ["query", "cursor"] and "altered or cut short" in error["msg"], error
    forged = [
        f"d1|2026-11-20T02:00:00|{decision_id}",  # no UTC offset
        "d1|2026-11-20T02:00:00+00:00|not-a-uuid",
        f"d1|2026-11-20T02:00:00+00:00|{decision_id.upper()}",  # not as stored
        f"d2|2026-11-20T02:00:00+00:00|{decision_id}",  # unknown version
        f"d1|yesterday|{decision_id}",
        f"d1|2026-11-20T02:00:00+00:00|{decision_id}|extra",
        "d1|\xff",
    ]
    for payload in forged:
        r = client.get(URL, params={"cursor": _with_checksum(payload.encode())})
        assert r.status_code == 422, payload
        assert "unreadable position" in r.json()["detail"][0]["msg"]
    assert client.get(URL, params={"cursor": _with_checksum(b"\xff\xfe|x|y")}).status_code == 422
    # And the untouched one still works.
    assert client.get(URL, params={"cursor": good}).status_code == 200


@pytest.mark.parametrize("cursor", ["", "abc", "a+b/c", "x" * 201, "====", "é"])
def test_malformed_cursors_are_422(client, cursor):
    r = client.get(URL, params={"cursor": cursor})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["query", "cursor"]


def test_pages_are_read_from_the_keyset_index(db_url):
    """The migrations create the index on the list's order, and the list's query reads a cursor page
    from it in that order (an index scan starting at the cursor, no sort). Sequential scans and sorts are
    priced out: this table is too small for the planner to prefer any index on its own."""
    engine = create_engine(db_url)
    try:
        indexes = {i["name"]: i["column_names"] for i in inspect(engine).get_indexes("allocation_decisions",
                                                                                      schema="zkp")}
        assert indexes["ix_allocation_decisions_timestamp_decision_id"] == ["timestamp", "decision_id"]
        assert "ix_allocation_decisions_timestamp" not in indexes  # replaced: the new one leads with it
        query = decisions.page_query(51, start=T0, after=(T0 + timedelta(days=1), str(uuid.uuid4())))
        compiled = query.compile(engine)
        with engine.connect() as c:
            for setting in ("enable_seqscan", "enable_sort", "enable_incremental_sort"):
                c.execute(text(f"SET {setting} = off"))
            plan = "\n".join(c.exec_driver_sql("EXPLAIN " + compiled.string, compiled.params).scalars())
    finally:
        engine.dispose()
    assert "Index Scan Backward using ix_allocation_decisions_timestamp_decision_id" in plan, plan
    (cond,) = [line for line in plan.splitlines() if "Index Cond:" in line]
    assert 'ROW("timestamp", (decision_id)::text) < ROW(' in cond and "Sort" not in plan, plan


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
