"""A model version registered at run time runs like a code version; an unknown or altered one never does.

Against a real PostgreSQL: a version registered with ``zkp model register`` and pinned with
``ZKP_MODEL_VERSION`` runs one hour of ``allocation_job``; the decision carries its version and hash,
its proof verifies and ``POST /proofs/verify`` calls its statement registered; the execution gate
accepts it. A version neither the code nor the database has is an error naming it (Dagster, API,
CLI), and a stored row whose hash does not match its definition is refused.
"""

from __future__ import annotations

import json

import pytest
from dagster import Failure
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from api.main import create_app
from tests.api.test_admin import definition
from tests.helpers import pipeline_resources
from zk_pipeline.cli import main
from zk_pipeline.db import model_versions, repository
from zk_pipeline.db.models import AllocationDecision, ModelVersionRecord, ProofJob, ProofStatus, RiskFeature, RiskScore
from zk_pipeline.db.session import session_scope
from zk_pipeline.felts import felt_hex
from zk_pipeline.resources import RiskModelResource
from zk_pipeline.risk import registry
from zk_pipeline.risk.params import ModelParams, canonical_definition, model_hash
from zk_pipeline.services import model_registration

HOUR_KEY = "2026-11-20-10:00"
#: Different parameters: jediswap's audit score lowered, a tighter single-protocol cap.
CHANGES = {"max_single_bps": 5500, "protocols": {"jediswap": {"audit_score": 60, "launch_unix": 1668470400},
                                                 "ekubo": {"audit_score": 90, "launch_unix": 1693526400}}}


@pytest.fixture(autouse=True)
def loader_restored():
    """Tests install the loader (the CLI, the API do); the process's previous one is put back."""
    previous = registry.loader()
    yield
    registry.set_loader(previous)


def register_with_cli(tmp_path, capsys, **changes) -> dict:
    path = tmp_path / "model.json"
    path.write_text(json.dumps(definition(**changes)))
    assert main(["model", "register", str(path), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_a_registered_version_runs_the_whole_pipeline(db_url, dagster_instance, tmp_path, capsys, monkeypatch):
    from zk_pipeline.definitions import defs
    from zk_pipeline.execution import gate

    made = register_with_cli(tmp_path, capsys, **CHANGES)
    version, hash_hex = made["version"], made["model_hash"]
    assert version == 2 and made["origin"] == "registered"
    monkeypatch.setenv("ZKP_MODEL_VERSION", str(version))  # the pin RiskModelResource() takes by default

    model = RiskModelResource().model()
    assert (model.version, model.hash_hex, model.origin) == (version, hash_hex, "registered")
    assert model.params.max_single_bps == 5500 and model.params.protocols["jediswap"].audit_score == 60
    assert model.hash_hex != registry.get_version(1).hash_hex

    result = defs.resolve_job_def("allocation_job").execute_in_process(
        partition_key=HOUR_KEY, instance=dagster_instance, raise_on_error=False,
        resources={**pipeline_resources(db_url), "risk_model": RiskModelResource()})
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    checks = result.get_asset_check_evaluations()
    assert checks and all(c.passed for c in checks), [(c.check_name, c.passed) for c in checks]
    for materialization in result.get_asset_materialization_events():
        md = materialization.step_materialization_data.materialization.metadata
        if "model_version" in md:
            assert (md["model_version"].value, md["model_hash"].value) == (version, hash_hex)

    with session_scope(db_url) as s:
        decision = s.scalars(select(AllocationDecision)).one()
        assert (decision.model_version, decision.model_hash) == (version, hash_hex)
        assert {f.model_version for f in s.scalars(select(RiskFeature))} == {version}
        assert {r.model_version for r in s.scalars(select(RiskScore))} == {version}
        proposal = repository.get_proposal(s, decision.timestamp, version)
        assert proposal.model_hash == hash_hex
        assert proposal.statement["model"]["params"] == model.params.to_dict()
        job = s.get(ProofJob, decision.proof_job_id)
        assert job.status == ProofStatus.verified and job.model_version == version and job.model_hash == hash_hex
        job_id = str(job.id)
        # The execution gate (without the on-chain look-up) accepts the decision: its version is registered.
        approved = gate.approve(s, decision.decision_id, registries=[], require_onchain=False, min_security_bits=96)
        assert felt_hex(approved.model_hash) == hash_hex

    with TestClient(create_app(db_url)) as client:
        proof = client.get(f"/api/v1/proofs/{job_id}/proof")
        statement = client.get(f"/api/v1/proofs/{job_id}/statement")
        assert proof.status_code == 200 and statement.status_code == 200
        r = client.post("/api/v1/proofs/verify", files={"proof": ("proof.bin", proof.content)},
                        data={"statement": statement.text})
    body = r.json()
    assert r.status_code == 200 and body["valid"] is True, body
    assert body["model_registered"] is True and body["model_hash"] == hash_hex
    assert f"registered hash of model version {version} (registered)" in body["model_registration"]


def test_the_current_model_stays_the_highest_code_version(db_url, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("ZKP_MODEL_VERSION", raising=False)
    register_with_cli(tmp_path, capsys, max_single_bps=5500)
    model_versions.install()
    assert registry.get_version().version == max(registry.MODEL_VERSIONS)
    # Pinned, `zkp migrate` marks it current in the table, so /model-registry/current names it.
    monkeypatch.setenv("ZKP_MODEL_VERSION", "2")
    assert main(["migrate"]) == 0
    capsys.readouterr()
    with TestClient(create_app(db_url)) as client:
        current = client.get("/api/v1/model-registry/current").json()
    assert current["version"] == 2 and current["origin"] == "registered" and current["is_current"] is True


def test_an_unknown_version_is_an_error_naming_it(db_url, dagster_instance, monkeypatch, capsys):
    from zk_pipeline.definitions import defs

    model_versions.install()
    # Dagster: the first step that needs the model fails, naming the version, not retried; nothing is decided.
    result = defs.resolve_job_def("allocation_job").execute_in_process(
        partition_key=HOUR_KEY, instance=dagster_instance, raise_on_error=False,
        resources={**pipeline_resources(db_url), "risk_model": RiskModelResource(pinned_version=7)})
    assert not result.success
    failures = [e for e in result.all_events if e.is_step_failure]
    assert failures and all("unknown model version 7" in e.step_failure_data.error.message for e in failures)
    with session_scope(db_url) as s:
        assert s.scalars(select(AllocationDecision)).all() == []
    with pytest.raises(Failure, match="unknown model version 7: model version 7 is not in this registry"):
        RiskModelResource(pinned_version=7).model()
    monkeypatch.setenv("ZKP_MODEL_VERSION", "7")
    with pytest.raises(Failure, match="unknown model version 7"):
        RiskModelResource().model()
    assert registry.registration(7, 123)[0] is None

    # CLI: one error line naming it.
    assert main(["migrate"]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("zkp: error:")]
    assert len(errors) == 1 and errors[0].startswith("zkp: error: unknown model version 7:"), errors

    # API: a statement naming it without parameters, and a request resolved under the pin.
    statement = {"hour": "2026-11-20T10:00:00Z", "model": {"version": 7},
                 "protocols": {"jediswap": {}, "ekubo": {}}, "outputs": {}}
    with TestClient(create_app(db_url)) as client:
        r = client.post("/api/v1/proofs/verify", files={"proof": ("proof.bin", b"x")},
                        data={"statement": json.dumps(statement)})
        assert r.status_code == 422 and "unknown model version 7" in r.json()["detail"], r.text
        r = client.get("/api/v1/model-registry/version/7")
        assert r.status_code == 404


def tamper(url: str, sql: str, **params) -> None:
    """Change ``model_versions`` behind the immutability trigger's back (a superuser can)."""
    with session_scope(url) as s:
        s.execute(text("ALTER TABLE zkp.model_versions DISABLE TRIGGER registered_model_version_immutable"))
        s.execute(text(sql), params)
        s.execute(text("ALTER TABLE zkp.model_versions ENABLE TRIGGER registered_model_version_immutable"))


def test_a_row_that_does_not_match_its_hash_is_refused(db_url, tmp_path, capsys):
    made = register_with_cli(tmp_path, capsys, max_single_bps=5500)
    model_versions.install()
    assert registry.get_version(2).hash_hex == made["model_hash"]
    # The trigger refuses the change...
    with pytest.raises(Exception, match="registered and immutable"):
        with session_scope(db_url) as s:
            s.execute(text("UPDATE zkp.model_versions SET params = jsonb_set(params, '{max_single_bps}', '9000') "
                           "WHERE version = 2"))
    # ...so the parameters are changed with the trigger off: the stored hash no longer matches.
    tamper(db_url, "UPDATE zkp.model_versions SET params = jsonb_set(params, '{max_single_bps}', '9000') "
                   "WHERE version = 2")
    with pytest.raises(registry.InvalidModelVersion, match="registered model version 2 is refused: its stored "
                                                           "canonical definition .*its stored hash"):
        registry.get_version(2)
    with pytest.raises(Failure, match="registered model version 2 is refused"):
        RiskModelResource(pinned_version=2).model()
    ok, why = registry.registration(2, int(made["model_hash"], 16))
    assert ok is False and "refused" in why

    # A crafted row: a consistent canonical definition of valid parameters, under someone else's hash.
    params = ModelParams(max_single_bps=5200)
    with session_scope(db_url) as s:
        s.add(ModelVersionRecord(version=3, model_hash=felt_hex(model_hash(4, params)), params=params.to_dict(),
                                 canonical_definition=canonical_definition(3, params).decode(), description="crafted",
                                 is_current=False, origin=model_registration.REGISTERED))
    with pytest.raises(registry.InvalidModelVersion, match="version 3 is refused: its stored hash 0x"):
        registry.get_version(3)
    # Invalid parameters are refused by the rules of every definition.
    bad = {**params.to_dict(), "risk_min": 99}
    with session_scope(db_url) as s:
        s.add(ModelVersionRecord(version=4, model_hash="0x" + "0" * 63 + "4", params=bad, canonical_definition="{}",
                                 description="crafted", is_current=False, origin=model_registration.REGISTERED))
    with pytest.raises(registry.InvalidModelVersion, match="version 4 is refused: its stored parameters are invalid "
                                                           r"\(invalid model parameters: risk_min > risk_max"):
        registry.get_version(4)


def test_without_a_database_only_code_versions_exist(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    model_versions.install()
    assert registry.get_version(1).origin == "code"
    with pytest.raises(registry.UnknownModelVersion, match="unknown model version 2"):
        registry.get_version(2)
