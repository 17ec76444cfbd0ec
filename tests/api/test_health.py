"""/health says whether the database answers, never where it is (user, host, socket, database name)."""

from __future__ import annotations

import logging
import socket

from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from api.main import create_app


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _secret_parts(url: str) -> list[str]:
    u = make_url(url)
    parts = [u.username, u.password, u.host, u.database, str(u.port) if u.port else None, u.query.get("host")]
    return [p for p in parts if p]


def test_ok_names_no_part_of_the_url(db_url):
    r = TestClient(create_app(db_url)).get("/api/v1/health")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "database": "ok", "reason": None}
    parts = _secret_parts(db_url)
    assert parts and not [p for p in parts if p in r.text]


def test_unreachable_tcp_server_names_no_user_host_port_or_database(caplog):
    url = f"postgresql://alice_dbuser:pw-S3CRET-9@127.0.0.1:{_closed_port()}/ledger_db_77"
    with caplog.at_level(logging.WARNING, logger="api.routes.health"):
        r = TestClient(create_app(url)).get("/api/v1/health")
    assert r.status_code == 503
    assert r.json() == {"status": "unavailable", "database": "unreachable",
                        "reason": "database unreachable (OperationalError)"}
    for part in _secret_parts(url):
        assert part not in r.text, part
    logged = "\n".join(rec.getMessage() for rec in caplog.records)
    assert "database unreachable" in logged and "S3CRET" not in logged  # operators get the driver's reason


def test_missing_unix_socket_is_not_revealed():
    sock_dir = "/tmp/zkp-health-no-such-socket-dir-41"
    url = f"postgresql://bob_socketuser@/wallet_db_13?host={sock_dir}"
    r = TestClient(create_app(url)).get("/api/v1/health")
    assert r.status_code == 503 and r.json()["database"] == "unreachable"
    for part in (sock_dir, ".s.PGSQL", "bob_socketuser", "wallet_db_13"):
        assert part not in r.text, part


def test_not_configured(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    r = TestClient(create_app()).get("/api/v1/health")
    assert r.status_code == 503
    assert r.json()["database"] == "not configured" and "DATABASE_URL is not set" in r.json()["reason"]


def test_schema_documents_the_states_not_a_url():
    spec = TestClient(create_app()).get("/openapi.json").json()
    field = spec["components"]["schemas"]["Health"]["properties"]["database"]
    assert "unreachable" in field["description"] and "URL" not in field["description"]
