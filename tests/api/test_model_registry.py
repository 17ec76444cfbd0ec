"""Model registry endpoints against a real PostgreSQL (version 1 synced by the fixture)."""

from __future__ import annotations

from datetime import datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, update

from api.main import create_app
from zk_pipeline.db.models import ModelVersionRecord
from zk_pipeline.db.session import session_scope
from zk_pipeline.risk.registry import get_version

BASE = "/api/v1/model-registry"


@pytest.fixture()
def client(db_url):
    with TestClient(create_app(db_url)) as c:
        yield c


def add_version(url: str, version: int, current: bool = False) -> None:
    with session_scope(url) as s:
        if current:
            s.execute(update(ModelVersionRecord).values(is_current=False))
        s.add(ModelVersionRecord(version=version, model_hash="0x" + format(version, "064x"), params={"v": version},
                                 canonical_definition="{}", description=f"v{version}", is_current=current))


def assert_is_version_1(body: dict) -> None:
    v1 = get_version(1)
    assert body["version"] == 1
    assert body["model_hash"] == v1.hash_hex
    assert body["params"] == v1.params.to_dict()
    assert body["description"] == v1.description
    assert body["registered_at"].endswith("Z") and datetime.fromisoformat(body["registered_at"]).tzinfo


def test_current_is_version_1(client):
    r = client.get(f"{BASE}/current")
    assert r.status_code == 200
    assert_is_version_1(r.json())
    assert r.json()["is_current"] is True


def test_current_follows_the_database(client, db_url):
    add_version(db_url, 2, current=True)
    body = client.get(f"{BASE}/current").json()
    assert body["version"] == 2 and body["is_current"] is True


def test_current_without_a_synced_registry_is_404(client, db_url):
    with session_scope(db_url) as s:
        s.execute(delete(ModelVersionRecord))
    r = client.get(f"{BASE}/current")
    assert r.status_code == 404
    assert "no current model version" in r.json()["detail"]
    assert client.get(f"{BASE}/history").json() == []


def test_history_is_newest_first(client, db_url):
    add_version(db_url, 3)
    add_version(db_url, 2)
    body = client.get(f"{BASE}/history").json()
    assert [v["version"] for v in body] == [3, 2, 1]
    assert [v["is_current"] for v in body] == [False, False, True]
    assert_is_version_1(body[-1])


def test_version_by_number(client):
    r = client.get(f"{BASE}/version/1")
    assert r.status_code == 200
    assert_is_version_1(r.json())


@pytest.mark.parametrize("version", [0, 99, 2**31 - 1])
def test_unknown_version_is_404(client, version):
    r = client.get(f"{BASE}/version/{version}")
    assert r.status_code == 404
    assert r.json() == {"detail": f"model version {version} not found"}


@pytest.mark.parametrize("bad", ["-1", "abc", "1.5", str(2**31), "0x1"])
def test_malformed_version_is_422(client, bad):
    r = client.get(f"{BASE}/version/{bad}")
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["path", "version"]
