"""Proving many hours at once: ``zkp prove --batch`` and ``orchestrator.prove_statement_jobs``.

A batch is only a faster first attempt: what it does not prove (a bad statement, a child
that dies halfway) goes through the usual attempts, and every proof is verified before it
is recorded, exactly as for a single hour.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path


from tests.helpers import proof_attempts as attempts
from tests.stark.helpers import HOUR, random_statement
from zk_pipeline.circuits.allocation import verify_statement
from zk_pipeline.db import proof_records
from zk_pipeline.db.models import ProofStatus
from zk_pipeline.provers.command import BuiltinBackend
from zk_pipeline.provers.orchestrator import ProofJobFailed, RetryPolicy, prove_statement_jobs
from zk_pipeline.risk.statement import Statement

FAST = RetryPolicy(max_attempts=1, backoff_s=0.01, timeout_s=120)


def statements(n: int, seed: int = 40) -> list[tuple]:
    out = []
    for i in range(n):
        hour = HOUR + timedelta(hours=i)
        st = random_statement(seed + i, hour=hour)
        out.append((hour, st))
    return out


def test_a_batch_proves_every_good_statement_and_names_the_bad_one(tmp_path):
    good = [st for _, st in statements(2)]
    for i, st in enumerate(good):
        (tmp_path / f"{i}.json").write_bytes(st.canonical_bytes())
    (tmp_path / "1bad.json").write_text('{"hour": "not an hour"}')
    res = subprocess.run([sys.executable, "-m", "zk_pipeline.cli", "prove", "--batch", str(tmp_path)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 1
    lines = {line["name"]: line for line in map(json.loads, res.stdout.splitlines())}
    assert sorted(lines) == ["0", "1", "1bad"]
    assert "error" in lines["1bad"] and not (tmp_path / "1bad.proof").exists()
    for i, st in enumerate(good):
        proof = (tmp_path / f"{i}.proof").read_bytes()
        assert lines[str(i)]["statement_hash"] == st.statement_hash()
        assert verify_statement(st, proof).valid
    # A proof of one statement is not a proof of the other.
    assert not verify_statement(good[1], (tmp_path / "0.proof").read_bytes()).valid


def test_a_batch_refuses_single_statement_options(tmp_path):
    res = subprocess.run([sys.executable, "-m", "zk_pipeline.cli", "prove", "--batch", str(tmp_path), "--out", "x"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and res.stderr.startswith("zkp: error: --batch")


def test_many_hours_are_proved_in_batches_once_and_then_reused(factory):
    items = statements(4)
    results = prove_statement_jobs(factory, items, [BuiltinBackend()], FAST, parallelism=2, run_id="run-1")
    assert sorted(results) == [h for h, _ in items]
    for hour, st in items:
        outcome = results[hour]
        assert not outcome.reused and outcome.job.status == ProofStatus.verified
        assert outcome.job.statement_hash == st.statement_hash() and outcome.job.hour == hour
        assert [(b, o) for b, o, _ in attempts(factory, outcome.job.id)] == [("builtin", "succeeded")]
        with factory() as s:
            assert verify_statement(st, proof_records.load_blob(s, outcome.job.proof_hash)).valid
    again = prove_statement_jobs(factory, items, [BuiltinBackend()], FAST, parallelism=2)
    assert all(again[h].reused and again[h].job.id == results[h].job.id for h, _ in items)


class DyingBatch(BuiltinBackend):
    """The real batch prover on the first statement only; then the child dies as a crash would."""

    def __init__(self, script: Path) -> None:
        super().__init__()
        self.script = script

    def batch_argv(self, folder: Path) -> list[str]:
        return [sys.executable, str(self.script), str(folder)]


def test_statements_a_dying_batch_did_not_prove_are_proved_one_by_one(factory, tmp_path):
    script = tmp_path / "dies.py"
    script.write_text(textwrap.dedent("""
        import os, pathlib, shutil, subprocess, sys
        folder = pathlib.Path(sys.argv[1])
        first = sorted(folder.glob("*.json"))[0]
        alone = folder / "alone"
        alone.mkdir()
        shutil.copy(first, alone / first.name)
        out = subprocess.run([sys.executable, "-m", "zk_pipeline.cli", "prove", "--batch", str(alone)],
                             capture_output=True, text=True)
        shutil.copy(alone / (first.stem + ".proof"), folder / (first.stem + ".proof"))
        sys.stdout.write(out.stdout)
        sys.stdout.flush()
        sys.stderr.write("prover core dumped\\n")
        os._exit(9)
    """))
    items = statements(3, seed=60)
    results = prove_statement_jobs(factory, items, [DyingBatch(script)], FAST, parallelism=1)
    first, *rest = [results[h] for h, _ in items]
    assert [(b, o) for b, o, _ in attempts(factory, first.job.id)] == [("builtin", "succeeded")]
    for outcome in rest:
        log = attempts(factory, outcome.job.id)
        assert [(b, o) for b, o, _ in log] == [("builtin", "failed"), ("builtin", "succeeded")]
        assert "exited with status 9" in log[0][2] and "core dumped" in log[0][2]
        assert outcome.job.status == ProofStatus.verified


def test_one_hour_failing_everywhere_fails_alone(factory):
    items = statements(3, seed=70)
    hour, st = items[1]
    # Claimed outputs that the model does not give: no prover can prove them, no verifier accepts them.
    broken = st.to_dict()
    broken["outputs"]["allocation"]["jediswap_bps"] += 1
    broken["outputs"]["allocation"]["ekubo_bps"] -= 1
    items[1] = (hour, Statement.from_dict(broken))
    results = prove_statement_jobs(factory, items, [BuiltinBackend()], FAST, parallelism=2)
    assert isinstance(results[hour], ProofJobFailed)
    with factory() as s:
        assert proof_records.get_job(s, results[hour].job_id).status in (ProofStatus.failed, ProofStatus.rejected)
    for other, _ in (items[0], items[2]):
        assert results[other].job.status == ProofStatus.verified
