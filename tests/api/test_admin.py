"""Admin endpoints: a bearer token checked against hashed tokens (401 / 403 / 503 / admitted), never logged
nor echoed; and registering a model version through them (201, 409 for a duplicate, 422 naming the field)."""

from __future__ import annotations

import copy
import hashlib
import logging

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from api.main import create_app
from zk_pipeline.db.models import ModelVersionRecord
from zk_pipeline.db.session import session_scope
from zk_pipeline.felts import felt_hex
from zk_pipeline.risk.params import ModelParams, model_hash
from zk_pipeline.risk.registry import get_version

REGISTER = "/api/v1/model-registry/register"
TOKEN = "zkp-admin-7Qm2vX9pL4rT8sW1yB6nC3dF5gH0jK"
OTHER_TOKEN = "zkp-admin-second-token-0123456789abcdef"


def sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def definition(**changes) -> dict:
    params = get_version(1).params.to_dict()
    params.update(changes)
    return {"params": params, "description": "tighter single-protocol cap"}


@pytest.fixture()
def admin_env(monkeypatch):
    monkeypatch.setenv("ZKP_ADMIN_TOKEN_SHA256", f"{sha256(OTHER_TOKEN)},{sha256(TOKEN).upper()}")
    return monkeypatch


@pytest.fixture()
def client(db_url):
    with TestClient(create_app(db_url)) as c:
        yield c


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_without_configured_hashes_admin_is_off(client, monkeypatch):
    monkeypatch.delenv("ZKP_ADMIN_TOKEN_SHA256", raising=False)
    r = client.post(REGISTER, json=definition(max_single_bps=5500), headers=bearer(TOKEN))
    assert r.status_code == 503 and "ZKP_ADMIN_TOKEN_SHA256 is not set" in r.json()["detail"]


def test_401_403_and_admitted_with_the_token_never_logged_nor_echoed(client, admin_env, db_url, caplog):
    body = definition(max_single_bps=5500)
    with caplog.at_level(logging.DEBUG):
        missing = client.post(REGISTER, json=body)
        other_scheme = client.post(REGISTER, json=body, headers={"Authorization": f"Basic {TOKEN}"})
        wrong = client.post(REGISTER, json=body, headers=bearer(TOKEN + "x"))
        hash_as_token = client.post(REGISTER, json=body, headers=bearer(sha256(TOKEN)))
        admitted = client.post(REGISTER, json=body, headers=bearer(TOKEN))
        second = client.post(REGISTER, json=definition(max_single_bps=5400), headers=bearer(OTHER_TOKEN))
    for r in (missing, other_scheme):
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer", r.text
    assert wrong.status_code == 403 and hash_as_token.status_code == 403
    assert admitted.status_code == 201 and second.status_code == 201, (admitted.text, second.text)
    with session_scope(db_url) as s:
        assert s.query(ModelVersionRecord).filter_by(origin="registered").count() == 2  # nothing before admission
    logs = "\n".join(f"{r.name} {r.getMessage()}" for r in caplog.records)
    assert logs.count("refused (401)") == 2 and logs.count("refused (403)") == 2
    assert f"by token sha256:{sha256(TOKEN)[:8]}" in logs and f"by token sha256:{sha256(OTHER_TOKEN)[:8]}" in logs
    responses = "\n".join(r.text + str(dict(r.headers)) for r in (missing, other_scheme, wrong, admitted, second))
    for token in (TOKEN, OTHER_TOKEN):
        assert token not in logs and token not in responses


def test_register_stores_the_next_version_immutable(client, admin_env, db_url):
    body = definition(max_single_bps=5500, min_single_bps=1500)
    r = client.post(REGISTER, json=body, headers=bearer(TOKEN))
    assert r.status_code == 201, r.text
    made = r.json()
    params = ModelParams.from_dict(body["params"])
    assert made["version"] == 2 and made["origin"] == "registered" and made["is_current"] is False
    assert made["model_hash"] == felt_hex(model_hash(2, params)) and made["params"] == params.to_dict()
    assert r.headers["location"] == "/api/v1/model-registry/version/2"
    assert client.get(r.headers["location"]).json() == made
    assert [v["version"] for v in client.get("/api/v1/model-registry/history").json()] == [2, 1]
    # The same parameters again, or version 1's: a duplicate, 409 naming the version; nothing stored.
    again = client.post(REGISTER, json=body, headers=bearer(TOKEN))
    assert again.status_code == 409 and "model version 2" in again.json()["detail"]
    v1 = client.post(REGISTER, json=definition(), headers=bearer(TOKEN))
    assert v1.status_code == 409 and f"model version 1 (model hash {get_version(1).hash_hex})" in v1.json()["detail"]
    # Immutable: the database itself refuses to change or delete it.
    for statement in ("UPDATE zkp.model_versions SET description = 'changed' WHERE version = 2",
                      "UPDATE zkp.model_versions SET params = '{}' WHERE version = 2",
                      "DELETE FROM zkp.model_versions WHERE version = 2"):
        with pytest.raises(DBAPIError, match="model version 2 is registered and immutable"):
            with session_scope(db_url) as s:
                s.execute(text(statement))
    with session_scope(db_url) as s:  # the flag the pipeline's sync moves is not the definition
        s.execute(text("UPDATE zkp.model_versions SET is_current = false WHERE version = 2"))
    assert client.get("/api/v1/model-registry/version/2").json() == made


@pytest.mark.parametrize("change, field", [
    ({"risk_min": 1.5}, "risk_min must be an integer"),
    ({"risk_min": True}, "risk_min must be an integer"),
    ({"age_weight": -1}, "non-negative"),
    ({"risk_min": 96}, "risk_min > risk_max"),
    ({"max_single_bps": 10_001}, "max_single_bps"),
    ({"liquidity_tier_risk": [0, 5, 15]}, "liquidity_tier_risk must be a list of 4 integers"),
    ({"liquidity_tier_thresholds": [1, 2, "3"]}, "liquidity_tier_thresholds[2] must be an integer"),
    ({"protocols": {"jediswap": {"audit_score": 101, "launch_unix": 0}, "ekubo": {"audit_score": 9, "launch_unix": 0}}},
     "protocols.jediswap.audit_score must be in 0..100"),
    ({"no_such_parameter": 1}, "unknown model parameters: ['no_such_parameter']"),
])
def test_an_invalid_model_is_422_naming_the_field(client, admin_env, db_url, change, field):
    r = client.post(REGISTER, json=definition(**change), headers=bearer(TOKEN))
    assert r.status_code == 422 and field in r.json()["detail"], r.text
    with session_scope(db_url) as s:
        assert s.query(ModelVersionRecord).filter_by(origin="registered").count() == 0


def test_every_parameter_is_stated(client, admin_env):
    body = copy.deepcopy(definition(max_single_bps=5500))
    del body["params"]["age_weight"]
    r = client.post(REGISTER, json=body, headers=bearer(TOKEN))
    assert r.status_code == 422 and "missing ['age_weight']" in r.json()["detail"]
    r = client.post(REGISTER, json={**definition(max_single_bps=5500), "version": 7}, headers=bearer(TOKEN))
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "version"]
