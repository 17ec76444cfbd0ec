"""The Atlantic backend against ``AtlanticApiDouble``, Atlantic's REST API on 127.0.0.1.

The PIE is made by a cairo-run double (the service double does not execute
it), except in one test that builds a real PIE with the real cairo-run.
"""

from __future__ import annotations

import json
import logging
import time
from types import SimpleNamespace

import pytest

from tests.provers import doubles
from zk_pipeline import cairo
from zk_pipeline.facts import stone as stone_facts
from zk_pipeline.provers.atlantic import AtlanticBackend, check_task_output
from zk_pipeline.provers.base import ProofArtifact, ProofRejected, ProverFailed, ProverTimeout, ProverUnavailable

KEY = "sk-atl-TEST-5ecr3t-0123456789abcdef"


def proof_for(statement) -> bytes:
    return doubles.atlantic_proof(cairo.expected_output(statement), doubles.compiled(False).bootloader_program_hash)


def make(api: doubles.AtlanticApiDouble, tmp, statement, *, key: str = KEY, cairo_run: str | None = None,
         **kw) -> AtlanticBackend:
    run = cairo_run or str(doubles.write_fake_cairo_run(tmp, cairo.expected_output(statement)))
    kw.setdefault("poll_interval_s", 0.01)
    kw.setdefault("max_poll_interval_s", 0.05)
    return AtlanticBackend(api_key=key, base_url=api.url, cairo_run=run, cache_dir=doubles.compile_cache(),
                           sleep=time.sleep, request_timeout_s=5, **kw)


def test_unavailable_without_key_or_url(tmp_path):
    with pytest.raises(ProverUnavailable, match=r"no API key \(ZKP_ATLANTIC_API_KEY\)"):
        AtlanticBackend.from_env({}).check_available()
    with pytest.raises(ProverUnavailable, match=r"no API URL"):
        AtlanticBackend.from_env({"ZKP_ATLANTIC_API_KEY": KEY, "ZKP_ATLANTIC_URL": ""}).check_available()
    b = AtlanticBackend.from_env({"ZKP_ATLANTIC_API_KEY": KEY, "ZKP_STONE_CAIRO_RUN": str(tmp_path / "cairo-run")})
    with pytest.raises(ProverUnavailable, match="cairo-run") as err:
        b.check_available()
    assert KEY not in str(err.value) and KEY not in repr(b)
    assert b.base_url == "https://atlantic.api.herodotus.cloud" and b.result == "PROOF_VERIFICATION_ON_L2"


def test_success_submits_a_pie_polls_downloads_and_verifies(tmp_path):
    st = doubles.default_model_statement(31)
    with doubles.AtlanticApiDouble(KEY, proof=proof_for(st),
                                   statuses=["RECEIVED", "IN_PROGRESS", "IN_PROGRESS", "DONE"]) as api:
        b = make(api, tmp_path, st)
        b.check_available()
        art = b.prove(st, timeout_s=60)
        assert art.backend == "atlantic" and art.proof == api.proof
        qid = art.details["atlantic_query_id"]
        assert art.details["integrityFactHash"] == "0x1234" and art.details["status"] == "DONE"
        assert art.details["bootloader_program_hash"] == hex(doubles.compiled(False).bootloader_program_hash)
        assert api.polls[qid] == 4  # RECEIVED, IN_PROGRESS, IN_PROGRESS, DONE

        (sub,) = api.submissions
        assert sub["fields"]["result"] == "PROOF_VERIFICATION_ON_L2" and sub["fields"]["layout"] == "recursive"
        assert sub["fields"]["cairoVersion"] == "cairo0" and sub["fields"]["declaredJobSize"] == "S"
        assert sub["fields"]["network"] == "TESTNET" and sub["fields"]["externalId"] == st.statement_hash()
        assert sub["fields"]["dedupId"].startswith("zkp-")
        assert doubles.zip_names(sub["files"]["pieFile"]) == ["memory.bin", "metadata.json", "version.json"]

        v = b.verify(st, art, min_security_bits=96)
        # The bits are the proof's own: n_queries * log2(blowup) + proof-of-work bits of its parameters.
        bits = stone_facts.security_bits(stone_facts.parse_stone_proof(json.loads(api.proof)))
        assert bits >= 96
        assert (v.valid, v.reason, v.security_bits, v.verifier) == (True, "", bits, "integrity")
        assert v.l2_fact_hash == "0x1234"
        assert not b.verify(st, art, min_security_bits=120).valid

    # The key went only in the api-key header, never into a URL.
    assert all(KEY not in r["path"] for r in api.requests)
    assert all(r["headers"].get("api-key") == KEY for r in api.requests if not r["path"].startswith("/files/"))


def test_remote_rejection_is_proof_rejected(tmp_path):
    st = doubles.default_model_statement(32)
    failed = {"step": "PROOF_VERIFICATION", "errorReason": "Integrity: invalid final FRI layer"}
    with doubles.AtlanticApiDouble(KEY, proof=proof_for(st), statuses=["IN_PROGRESS", "FAILED"], final=failed) as api:
        with pytest.raises(ProofRejected, match="FAILED at step PROOF_VERIFICATION: Integrity: invalid final FRI"):
            make(api, tmp_path, st).prove(st, timeout_s=30)
    crashed = {"step": "TRACE_GENERATION", "errorReason": "out of memory"}
    with doubles.AtlanticApiDouble(KEY, statuses=["FAILED"], final=crashed) as api:
        with pytest.raises(ProverFailed, match="FAILED at step TRACE_GENERATION: out of memory"):
            make(api, tmp_path, st).prove(st, timeout_s=30)


def test_verify_needs_the_services_verification_and_our_output(tmp_path):
    st = doubles.default_model_statement(33)
    mocked = {"step": "PROOF_VERIFICATION", "steps": ["PROOF_GENERATION", "PROOF_VERIFICATION"],
              "integrityFactHash": "0x99", "isFactMocked": True}
    with doubles.AtlanticApiDouble(KEY, proof=proof_for(st), statuses=["DONE"], final=mocked) as api:
        b = make(api, tmp_path, st)
        art = b.prove(st, timeout_s=30)
        v = b.verify(st, art, 96)
        assert not v.valid and v.verifier == "integrity" and "the fact was mocked" in v.reason

    only_proof = {"step": "PROOF_GENERATION", "steps": ["TRACE_GENERATION", "PROOF_GENERATION"]}
    with doubles.AtlanticApiDouble(KEY, proof=proof_for(st), statuses=["DONE"], final=only_proof) as api:
        b = make(api, tmp_path, st)
        v = b.verify(st, b.prove(st, timeout_s=30), 96)
        assert not v.valid and "no verification step ran" in v.reason

    # Verified remotely, but the proof is of another statement's result, or of another program.
    other = doubles.default_model_statement(34)
    with doubles.AtlanticApiDouble(KEY, proof=proof_for(other), statuses=["DONE"]) as api:
        b = make(api, tmp_path, st)
        v = b.verify(st, b.prove(st, timeout_s=30), 96)
        assert not v.valid and "not this statement's result" in v.reason
    stranger = doubles.atlantic_proof(cairo.expected_output(st), 0x1234567)
    with doubles.AtlanticApiDouble(KEY, proof=stranger, statuses=["DONE"]) as api:
        b = make(api, tmp_path, st)
        v = b.verify(st, b.prove(st, timeout_s=30), 96)
        assert not v.valid and "program 0x1234567, not ours" in v.reason
    assert b.verify(st, ProofArtifact(b"{}", "atlantic", 0, {}), 96).reason == "the artifact names no Atlantic query"


def test_configured_bootloader_hash_is_enforced(tmp_path):

    st = doubles.default_model_statement(41)
    proof = proof_for(st)
    bootloader = stone_facts.program_hash(stone_facts.parse_stone_proof(json.loads(proof)))
    with doubles.AtlanticApiDouble(KEY, proof=proof, statuses=["DONE"]) as api:
        art = make(api, tmp_path, st, bootloader_hash=bootloader).prove(st, timeout_s=30)
        assert make(api, tmp_path, st, bootloader_hash=bootloader).verify(st, art, 96).valid
        v = make(api, tmp_path, st, bootloader_hash=bootloader + 1).verify(st, art, 96)
        assert not v.valid and "not the configured bootloader" in v.reason
    env = {"ZKP_ATLANTIC_API_KEY": KEY, "ZKP_ATLANTIC_BOOTLOADER_HASH": hex(bootloader)}
    assert AtlanticBackend.from_env(env).bootloader_hash == bootloader


def test_task_output_shapes():
    out, h = [5, 6, 7], 99
    assert check_task_output([5, 6, 7], out, h) is None
    assert check_task_output([1, 5, 99, 5, 6, 7], out, h) is None
    assert "has 2 output felts, it has 3" in check_task_output([1, 4, 99, 5, 6, 7], out, h)
    assert "neither" in check_task_output([2, 5, 99, 5, 6, 7], out, h)


def test_timeout_while_polling(tmp_path):
    st = doubles.default_model_statement(35)
    with doubles.AtlanticApiDouble(KEY, statuses=["RECEIVED", "IN_PROGRESS"]) as api:
        b = make(api, tmp_path, st, poll_interval_s=0.05, max_poll_interval_s=0.1)
        b.compiled()  # compiled beforehand (cached): the 2 s deadline is the polling's alone, even on a loaded machine
        t0 = time.monotonic()
        with pytest.raises(ProverTimeout, match=r"query 01TESTQUERY000000 still IN_PROGRESS .* after 2s"):
            b.prove(st, timeout_s=2)
        assert 1.9 < time.monotonic() - t0 < 15
        assert api.polls["01TESTQUERY000000"] > 5


def test_5xx_then_success(tmp_path):
    st = doubles.default_model_statement(36)
    with doubles.AtlanticApiDouble(KEY, proof=proof_for(st), fail_submits=2, fail_gets=3) as api:
        b = make(api, tmp_path, st)
        art = b.prove(st, timeout_s=60)
        assert b.verify(st, art, 96).valid
        posts = [r for r in api.requests if r["method"] == "POST"]
        assert len(posts) == 3 and len(api.submissions) == 1  # two 503s, then one query


def test_retried_submission_follows_the_existing_query(tmp_path):
    """A second attempt for the same statement resubmits with the same dedupId: no second query is bought."""
    st = doubles.default_model_statement(37)
    with doubles.AtlanticApiDouble(KEY, proof=proof_for(st)) as api:
        b = make(api, tmp_path, st)
        first = b.prove(st, timeout_s=30)
        second = b.prove(st, timeout_s=30)
        assert second.details["atlantic_query_id"] == first.details["atlantic_query_id"]
        assert len(api.submissions) == 1
        assert any(r["path"].startswith("/atlantic-query-by-dedup-id?dedupId=zkp-") for r in api.requests)


def test_bad_key_is_unavailable_and_never_leaks(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)  # urllib3 and requests log at DEBUG too
    st = doubles.default_model_statement(38)
    wrong = "sk-atl-WRONG-" + KEY[::-1]
    errors: list[BaseException] = []
    with doubles.AtlanticApiDouble(KEY, proof=proof_for(st)) as api:
        with pytest.raises(ProverUnavailable, match=r"refused the API key \(HTTP 401\)") as err:
            make(api, tmp_path, st, key=wrong).prove(st, timeout_s=30)
        errors.append(err.value)
    assert len(api.submissions) == 0
    for exc in errors:
        assert wrong not in str(exc) and wrong not in repr(exc)
    assert wrong not in caplog.text


def test_key_never_appears_in_errors_or_logs(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    st = doubles.default_model_statement(39)
    seen: list[str] = []

    def attempt(api, **kw):
        b = make(api, tmp_path, st, **kw)
        seen.append(repr(b))
        try:
            art = b.prove(st, timeout_s=1.5)
            seen.append(json.dumps(art.details))
            v = b.verify(st, art, 96)
            seen.append(v.reason)
        except Exception as exc:  # noqa: BLE001 - every failure's text is what is checked
            seen.extend([str(exc), repr(exc), str(exc.__cause__), str(exc.__context__)])

    with doubles.AtlanticApiDouble(KEY, fail_submits=10**6) as api:  # 503 until the deadline
        attempt(api)
    with doubles.AtlanticApiDouble(KEY, statuses=["IN_PROGRESS"]) as api:  # never done
        attempt(api)
    with doubles.AtlanticApiDouble(KEY, statuses=["FAILED"], final={"step": "PROOF_VERIFICATION",
                                                                    "errorReason": f"bad proof for key {KEY}"}) as api:
        attempt(api)  # even a service echoing the key back is redacted
    with doubles.AtlanticApiDouble(KEY, proof=proof_for(st)) as api:
        attempt(api)
    with doubles.AtlanticApiDouble(KEY) as api:
        api.server.shutdown()
        api.server.server_close()  # nothing listening: refused at once (not retried), the key still masked
        attempt(api)
    assert any("***" in s for s in seen)  # the echoed key was replaced
    assert len(seen) >= 10
    for text in seen:
        assert KEY not in text
    assert KEY not in caplog.text and "retrying" in caplog.text


def test_an_unreachable_service_fails_at_once_instead_of_retrying_until_the_deadline(tmp_path):
    """A name that does not resolve or a port nobody listens on is a definite answer: waiting would not
    change it, so the attempt fails in well under its 30 s deadline (it used to retry until the deadline)."""
    st = doubles.default_model_statement(42)
    with doubles.AtlanticApiDouble(KEY) as api:
        closed = make(api, tmp_path, st)
        api.server.shutdown()
        api.server.server_close()
    closed.compiled()  # compiled beforehand (cached): the clock measures the requests alone
    unresolvable = make(SimpleNamespace(url="http://atlantic.invalid"), tmp_path, st)
    for backend, cause in ((closed, "connection refused"), (unresolvable, "DNS lookup failed")):
        t0 = time.monotonic()
        with pytest.raises(ProverFailed, match=f"{cause}.*, not retried: atlantic: POST /atlantic-query") as err:
            backend.prove(st, timeout_s=30)
        assert time.monotonic() - t0 < 10 and KEY not in str(err.value)


def test_real_pie_is_accepted_by_the_double(tmp_path):
    """With the real cairo-run: the PIE of our program, built and uploaded as Atlantic expects it."""
    cairo_run = doubles.cairo_run_or_fail()
    st = doubles.default_model_statement(40)
    with doubles.AtlanticApiDouble(KEY, proof=proof_for(st), statuses=["DONE"]) as api:
        b = make(api, tmp_path, st, cairo_run=cairo_run)
        art = b.prove(st, timeout_s=120)
        assert b.verify(st, art, 96).valid
    names = doubles.zip_names(api.submissions[0]["files"]["pieFile"])
    assert {"metadata.json", "memory.bin", "additional_data.json", "execution_resources.json",
            "version.json"} <= set(names)


def test_an_atlantic_job_records_the_integrity_fact_and_is_reused_without_a_new_query(tmp_path, db_url):
    """The job keeps the query id (``details``), so the stored proof can be re-verified with the service."""
    from sqlalchemy.orm import sessionmaker

    from zk_pipeline.db import proof_records
    from zk_pipeline.db.session import get_engine
    from zk_pipeline.provers.orchestrator import RetryPolicy, prove_statement_job

    factory = sessionmaker(get_engine(db_url), expire_on_commit=False)
    policy = RetryPolicy(max_attempts=1, backoff_s=0.01, timeout_s=60)
    st = doubles.default_model_statement(35).with_outputs()
    with doubles.AtlanticApiDouble(KEY, proof=proof_for(st)) as api:
        b = make(api, tmp_path, st)
        first = prove_statement_job(factory, st, [b], policy)
        assert first.job.source == "atlantic" and first.job.l2_fact_hash == "0x1234"
        assert first.job.l2_verified_at is not None and first.job.details["atlantic_query_id"]
        with factory() as s:
            (fact,) = proof_records.facts_by_hash(s, first.job.fact_hash)
        assert fact.verifier == "integrity"
        submissions = len(api.submissions)
        again = prove_statement_job(factory, st, [b], policy)
    assert again.reused and again.job.id == first.job.id
    assert len(api.submissions) == submissions  # asked the service about the query, submitted nothing
    assert all(KEY not in str(v) for v in (first.job.details, first.job.last_error))
