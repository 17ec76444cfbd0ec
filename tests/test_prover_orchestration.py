"""Prover orchestration: fallback, retries, timeouts, kills, rejection, reuse — all on record.

The failing provers are real child processes (small scripts written by the
tests) run through the ``command`` backend, so crashes, hangs and bad output
travel the same path as in production.
"""

from __future__ import annotations

import hashlib
import os
import signal
import stat
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.helpers import proof_attempts as attempts
from tests.stark.helpers import random_statement
from zk_pipeline.db import proof_records
from zk_pipeline.db.models import ProofBlob, ProofJob, ProofStatus, VerifiedFact
from zk_pipeline.facts.builtin import compute_facts
from zk_pipeline.provers.command import BuiltinBackend, CommandBackend
from zk_pipeline.provers.orchestrator import ProofJobFailed, RetryPolicy, prove_statement_job
from zk_pipeline.provers.registry import build_backends

FAST = RetryPolicy(max_attempts=2, backoff_s=0.01, timeout_s=120)


def script(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text(f"#!{sys.executable}\nimport sys, time, os\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def test_crash_then_fallback_to_builtin(factory, tmp_path):
    crash = script(tmp_path, "crash.py", "sys.stderr.write('segfault in prover core\\n'); sys.exit(3)")
    st = random_statement(1)
    out = prove_statement_job(factory, st, [CommandBackend([crash]), BuiltinBackend()], FAST)
    assert out.job.status == ProofStatus.verified and out.job.source == "builtin"
    log = attempts(factory, out.job.id)
    assert [(b, o) for b, o, _ in log] == [("command", "failed"), ("command", "failed"), ("builtin", "succeeded")]
    assert "exited with status 3" in log[0][2] and "segfault in prover core" in log[0][2]
    with factory() as s:
        fact = s.scalars(select(VerifiedFact).where(VerifiedFact.proof_job_id == out.job.id)).one()
    assert fact.verifier == "local" and fact.fact_hash == compute_facts(st, out.job.security_bits).to_json()["fact_hash"]


def test_hang_past_timeout_is_killed_and_recorded(factory, tmp_path):
    pidfile = tmp_path / "pid"
    hang = script(tmp_path, "hang.py", f"open({str(pidfile)!r}, 'w').write(str(os.getpid())); time.sleep(600)")
    policy = RetryPolicy(max_attempts=1, backoff_s=0.01, timeout_s=120)
    started = time.monotonic()
    out = prove_statement_job(factory, random_statement(2), [CommandBackend([hang], timeout_s=1.0), BuiltinBackend()],
                              policy)
    assert out.job.status == ProofStatus.verified
    log = attempts(factory, out.job.id)
    assert log[0][:2] == ("command", "timeout") and "no proof after 1s" in log[0][2]
    with pytest.raises(ProcessLookupError):
        os.kill(int(pidfile.read_text()), 0)  # the hung prover is gone
    assert time.monotonic() - started < 60


def test_bad_proof_is_rejected_never_recorded_as_success(factory, tmp_path):
    garbage = script(tmp_path, "garbage.py", "open(sys.argv[1], 'wb').write(os.urandom(4096))")
    with pytest.raises(ProofJobFailed) as err:
        prove_statement_job(factory, random_statement(3), [CommandBackend([garbage, "{out}"])], FAST)
    with factory() as s:
        job = s.get(ProofJob, err.value.job_id)
        assert job.status == ProofStatus.rejected and job.proof_hash is None and job.fact_hash is None
        assert s.scalars(select(VerifiedFact)).all() == []
    log = attempts(factory, err.value.job_id)
    assert [o for _, o, _ in log] == ["rejected", "rejected"] and "does not verify" in log[0][2]


def test_a_valid_proof_from_another_statement_is_rejected(factory, tmp_path):
    """A prover that answers with a real proof — of a different statement."""
    other = tmp_path / "other.json"
    other.write_bytes(random_statement(99).canonical_bytes())
    wrong = script(tmp_path, "wrong.py",
                   f"import subprocess; sys.exit(subprocess.call([{sys.executable!r}, '-m', 'zk_pipeline.cli', "
                   f"'prove', '--input', {str(other)!r}, '--out', sys.argv[1]]))")
    with pytest.raises(ProofJobFailed):
        prove_statement_job(factory, random_statement(4), [CommandBackend([wrong, "{out}"])],
                            RetryPolicy(max_attempts=1, backoff_s=0.01))


def test_command_backend_running_a_real_prover_succeeds(factory):
    cmd = f"{sys.executable} -m zk_pipeline.cli prove --input {{statement}} --out {{out}} --json"
    out = prove_statement_job(factory, random_statement(5), build_backends(["command"], command=cmd), FAST)
    assert out.job.status == ProofStatus.verified and out.job.source == "command"
    assert out.job.proof_size > 0 and out.job.security_bits >= 96


def test_a_command_provers_report_is_stored_but_only_its_known_fields(factory, tmp_path):
    """Whatever else a configured program prints (a token, say) never reaches ``proof_jobs.details``."""
    wrapper = script(tmp_path, "chatty.py", f"""
import json, subprocess
out = subprocess.run([{sys.executable!r}, "-m", "zk_pipeline.cli", "prove", "--input", sys.argv[1], "--out", sys.argv[2],
                      "--json"], capture_output=True, text=True, check=True).stdout
report = json.loads(out)
report["api_token"] = "sk-live-SECRET"
print(json.dumps(report))
""")
    out = prove_statement_job(factory, random_statement(7), [CommandBackend([wrapper, "{statement}", "{out}"])], FAST)
    with factory() as s:
        details = s.get(ProofJob, out.job.id).details
    assert details["security_bits"] == out.job.security_bits and details["proof_bytes"] == out.job.proof_size
    assert "api_token" not in details and "SECRET" not in str(details)


def test_a_provers_stderr_is_stored_and_logged_without_secrets(factory, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("MY_SERVICE_TOKEN", "tok-0123456789abcdef")
    leaky = script(tmp_path, "leaky.py", """
sys.stderr.write('POST https://prover:S3CRETPW@gpu.internal/prove -> 502; token ' + os.environ['MY_SERVICE_TOKEN']
                 + '; sees DATABASE_URL: ' + str('DATABASE_URL' in os.environ) + '\\n')
sys.exit(3)
""")
    out = prove_statement_job(factory, random_statement(8), [CommandBackend([leaky]), BuiltinBackend()], FAST)
    errors = [e for b, o, e in attempts(factory, out.job.id) if b == "command"]
    assert errors and all("https://prover:***@gpu.internal" in e and "token ***" in e for e in errors)
    assert all("S3CRETPW" not in e and "tok-0123456789abcdef" not in e for e in errors)
    assert all("sees DATABASE_URL: False" in e for e in errors)  # the child never had the app's credentials
    assert "S3CRETPW" not in caplog.text and "tok-0123456789abcdef" not in caplog.text


def test_unconfigured_backend_is_skipped_without_retry(factory):
    out = prove_statement_job(factory, random_statement(6), build_backends(["command", "builtin"]), FAST)
    log = attempts(factory, out.job.id)
    assert [(b, o) for b, o, _ in log] == [("command", "unavailable"), ("builtin", "succeeded")]
    assert "ZKP_PROVER_COMMAND is not set" in log[0][2]


def test_killing_the_prover_mid_proof_leaves_a_failed_attempt_and_a_retry_succeeds(factory):
    killed = []

    def kill_first(pid: int) -> None:
        # At once, from the start hook: a timer raced the prover, which can finish in under 0.3 s.
        if not killed:
            killed.append(pid)
            os.killpg(pid, signal.SIGKILL)

    out = prove_statement_job(factory, random_statement(7), [BuiltinBackend(on_start=kill_first)], FAST)
    log = attempts(factory, out.job.id)
    assert [(b, o) for b, o, _ in log] == [("builtin", "failed"), ("builtin", "succeeded")]
    assert "killed by signal 9" in log[0][2]
    assert out.job.attempts == 2 and out.job.status == ProofStatus.verified


def test_same_statement_reuses_verified_proof_changed_statement_gets_new_job(factory):
    st = random_statement(8)
    first = prove_statement_job(factory, st, [BuiltinBackend()], FAST)
    again = prove_statement_job(factory, st, [BuiltinBackend()], FAST)
    assert again.reused and again.job.id == first.job.id and len(attempts(factory, first.job.id)) == 1
    changed = prove_statement_job(factory, random_statement(9), [BuiltinBackend()], FAST)
    assert not changed.reused and changed.job.id != first.job.id
    with factory() as s:
        assert {j.id for j in s.scalars(select(ProofJob))} >= {first.job.id, changed.job.id}


def test_all_backends_failing_marks_the_job_failed(factory, tmp_path):
    crash = script(tmp_path, "crash.py", "sys.exit(1)")
    with pytest.raises(ProofJobFailed) as err:
        prove_statement_job(factory, random_statement(10), [CommandBackend([crash])], FAST)
    with factory() as s:
        job = s.get(ProofJob, err.value.job_id)
    assert job.status == ProofStatus.failed and job.attempts == 2 and "exited with status 1" in job.last_error


def test_a_stored_proof_that_no_longer_verifies_is_not_reused(factory):
    """E.g. a proof made by an older prover version: proven afresh, the old job kept."""
    st = random_statement(11)
    first = prove_statement_job(factory, st, [BuiltinBackend()], FAST)
    with factory.begin() as s:
        blob = s.get(ProofBlob, first.job.proof_hash)
        blob.data = blob.data[:-1] + bytes([blob.data[-1] ^ 1])
    again = prove_statement_job(factory, st, [BuiltinBackend()], FAST)
    assert not again.reused and again.job.id != first.job.id and again.job.status == ProofStatus.verified
    with factory() as s:
        stored = proof_records.load_blob(s, again.job.proof_hash)
    assert hashlib.sha256(stored).hexdigest() == again.job.proof_hash  # the damaged copy was replaced


def test_unconfigured_stone_and_atlantic_fall_back_to_builtin(factory, monkeypatch):
    for var in ("ZKP_STONE_PROVER", "ZKP_STONE_VERIFIER", "ZKP_ATLANTIC_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")  # no cpu_air_prover anywhere
    out = prove_statement_job(factory, random_statement(12), build_backends(["stone", "atlantic", "builtin"]), FAST)
    log = attempts(factory, out.job.id)
    assert [(b, o) for b, o, _ in log] == [("stone", "unavailable"), ("atlantic", "unavailable"), ("builtin", "succeeded")]
    assert "cpu_air_prover" in log[0][2]


def test_a_returned_proof_is_succeeded_until_it_verifies_then_verified(factory):
    """The job shows ``succeeded`` (a proof exists, not yet trusted) while the verifier runs."""
    seen = []

    class Watching(BuiltinBackend):
        def verify(self, statement, artifact, min_security_bits):
            with factory() as s:
                seen.extend(j.status for j in s.scalars(select(ProofJob)))
            return super().verify(statement, artifact, min_security_bits)

    out = prove_statement_job(factory, random_statement(41), [Watching()], FAST)
    assert seen == [ProofStatus.succeeded]
    assert out.job.status == ProofStatus.verified


def test_a_proof_that_fails_verification_goes_back_to_running_for_the_next_attempt(factory):
    seen = []

    class Flaky(BuiltinBackend):
        calls = 0

        def verify(self, statement, artifact, min_security_bits):
            Flaky.calls += 1
            v = super().verify(statement, artifact, min_security_bits)
            if Flaky.calls == 1:  # the first proof "does not verify"
                from dataclasses import replace

                v = replace(v, valid=False, reason="test: rejected once")
            return v

        def prove(self, statement, timeout_s):
            with factory() as s:
                seen.extend(j.status for j in s.scalars(select(ProofJob)))
            return super().prove(statement, timeout_s)

    out = prove_statement_job(factory, random_statement(42), [Flaky()], FAST)
    assert seen == [ProofStatus.running, ProofStatus.running]
    assert out.job.status == ProofStatus.verified
    assert [(b, o) for b, o, _ in attempts(factory, out.job.id)] == [("builtin", "rejected"), ("builtin", "succeeded")]
