"""Health, error handling, OpenAPI, and the app served for real by uvicorn."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from api.main import create_app
from zk_pipeline.risk.registry import get_version

ROOT = Path(__file__).resolve().parents[2]


def closed_port_url(password: str) -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"postgresql://zkp:{password}@127.0.0.1:{port}/zkp"


def test_health_ok(db_url):
    r = TestClient(create_app(db_url)).get("/api/v1/health")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "database": "ok", "reason": None}


def test_unreachable_database_is_503_without_the_password():
    client = TestClient(create_app(closed_port_url("hunter2-S3CRET")))
    health = client.get("/api/v1/health")
    assert health.status_code == 503
    assert health.json()["status"] == "unavailable"
    assert "database unreachable" in health.json()["reason"]
    assert health.json()["database"] == "unreachable"
    responses = [health]
    for path in ("/api/v1/risk-engine/decisions", "/api/v1/model-registry/current"):
        responses.append(r := client.get(path))
        assert r.status_code == 503
        assert r.json() == {"detail": "database unavailable (OperationalError); retry later"}
    assert not any("hunter2" in r.text or "S3CRET" in r.text for r in responses)


def test_missing_database_url_is_503(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    client = TestClient(create_app())
    r = client.get("/api/v1/health")
    assert r.status_code == 503 and "DATABASE_URL is not set" in r.json()["reason"]
    r = client.get("/api/v1/risk-engine/decisions")
    assert r.status_code == 503 and "DATABASE_URL is not set" in r.json()["detail"]


def test_unmigrated_database_is_500_without_sql(db_url):
    """A reachable database without the app schema: a clear 500, no SQL or server text."""
    admin = create_engine(db_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text('CREATE DATABASE "zkp_api_empty"'))
    try:
        empty = make_url(db_url).set(database="zkp_api_empty").render_as_string(hide_password=False)
        r = TestClient(create_app(empty)).get("/api/v1/risk-engine/decisions")
        assert r.status_code == 500
        assert r.json() == {"detail": "database error (ProgrammingError)"}
        assert TestClient(create_app(empty)).get("/api/v1/health").status_code == 200
    finally:
        from zk_pipeline.db.session import get_engine

        get_engine(empty).dispose()
        with admin.connect() as c:
            c.execute(text('DROP DATABASE IF EXISTS "zkp_api_empty" WITH (FORCE)'))
        admin.dispose()


def test_module_app_reads_database_url_per_request(db_url):
    from api.main import app

    r = TestClient(app).get("/api/v1/model-registry/current")
    assert r.status_code == 200 and r.json()["version"] == 1


def test_import_needs_no_database():
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    subprocess.run([sys.executable, "-c", "import api.main"], cwd=ROOT, env=env, check=True, timeout=60)


def test_openapi_documents_every_endpoint():
    spec = TestClient(create_app()).get("/openapi.json").json()
    assert spec["info"]["title"] == "zk-pipeline API"
    assert {t["name"] for t in spec["tags"]} == {"risk-engine", "model-registry", "proofs", "verification", "health"}
    ops = {(path, method): op for path, item in spec["paths"].items() for method, op in item.items()}
    assert set(ops) == {
        ("/api/v1/risk-engine/decisions", "get"), ("/api/v1/risk-engine/decision/{decision_id}", "get"),
        ("/api/v1/risk-engine/orchestrate-allocation", "post"), ("/api/v1/risk-engine/orchestration/{run_id}", "get"),
        ("/api/v1/risk-engine/execute-allocation", "post"), ("/api/v1/risk-engine/execution/{decision_id}", "get"),
        ("/api/v1/model-registry/current", "get"), ("/api/v1/model-registry/history", "get"),
        ("/api/v1/model-registry/version/{version}", "get"), ("/api/v1/model-registry/register", "post"),
        ("/api/v1/health", "get"),
        ("/api/v1/proofs/generate", "post"), ("/api/v1/proofs/verify", "post"),
        ("/api/v1/proofs/{proof_job_id}", "get"), ("/api/v1/proofs/{proof_job_id}/proof", "get"),
        ("/api/v1/proofs/{proof_job_id}/statement", "get"),
        ("/api/v1/verification/verification-status/{proof_job_id}", "get"),
        ("/api/v1/verification/verify-fact-hash/{fact_hash}", "get"),
    }
    assert all(op.get("summary") and op.get("tags") for op in ops.values())
    params = {p["name"]: p for p in ops[("/api/v1/risk-engine/decisions", "get")]["parameters"]}
    assert set(params) == {"limit", "offset", "start", "end", "cursor", "include_total"}
    assert all(p.get("description") for p in params.values())


def test_real_http(live_server):
    host, port = live_server
    with httpx.Client(base_url=f"http://{host}:{port}", timeout=10) as http:
        health = http.get("/api/v1/health")
        assert health.status_code == 200 and health.json()["status"] == "ok"
        docs = http.get("/docs")
        assert docs.status_code == 200 and "swagger-ui" in docs.text.lower()
        current = http.get("/api/v1/model-registry/current")
        assert current.status_code == 200
        assert current.json()["model_hash"] == get_version(1).hash_hex
        assert http.get("/api/v1/risk-engine/decision/nope").status_code == 422
