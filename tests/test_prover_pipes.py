"""Prover children under Dagster Pipes: their own log lines and timings in the run's event log.

``proof_request_job`` runs in process on a real instance (PostgreSQL storage),
as the daemon would run the API's request (``tests/api/dagster_work.py``). The
children are real processes: the built-in prover, and small scripts that
crash, hang, or never open Pipes, run through the ``command`` backend or a
backend registered as speaking Pipes.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time

import pytest
from dagster import AssetKey, DagsterEventType, materialize

from tests.api.dagster_work import take_up_proof_requests
from tests.api.test_proofs import small_statement
from tests.helpers import pipeline_resources
from tests.test_prover_orchestration import script
from zk_pipeline.child_process import run_child
from zk_pipeline.db import proof_records
from zk_pipeline.db.session import session_scope
from zk_pipeline.definitions import all_assets
from zk_pipeline.provers import registry
from zk_pipeline.provers.command import BuiltinBackend, CommandBackend
from zk_pipeline.resources import DatabaseResource, ProverResource
from zk_pipeline.services import proof_requests

STARTED = re.compile(r"prover process (\d+) started")


class PipesScriptBackend(CommandBackend):
    """A configured program launched with a Pipes session, as the built-in prover is."""

    name = "pipes_script"
    speaks_pipes = True


@pytest.fixture()
def pipes_script_backend(monkeypatch):
    monkeypatch.setitem(registry.BACKENDS, PipesScriptBackend.name,
                        lambda command, on_start: PipesScriptBackend(shlex.split(command), on_start=on_start))


def prove_through_dagster(db_url: str, instance, seed: int, prover: ProverResource):
    """One API request proved by its ``proof_request_job`` run: (job id, run result, the run's event log)."""
    with session_scope(db_url) as s:
        job_id = proof_requests.request_proof(s, json.dumps(small_statement(seed).to_dict()).encode()).job.id
    [result] = take_up_proof_requests(instance, db_url, {"database": DatabaseResource(url=db_url), "prover": prover})
    return job_id, result, instance.all_logs(result.run_id)


def messages(logs) -> list[str]:
    return [e.user_message for e in logs]


def the_child(text: list[str]) -> int:
    """The pid of the step's one prover child (its start is logged from the step), not ours."""
    [pid] = [int(m.group(1)) for m in map(STARTED.search, text) if m]
    assert pid != os.getpid()
    return pid


def step_metadata(logs, event_type: DagsterEventType) -> dict:
    [event] = [e.dagster_event for e in logs if e.dagster_event and e.dagster_event.event_type == event_type]
    data = event.event_specific_data
    return dict(data.metadata if event_type == DagsterEventType.STEP_OUTPUT else data.user_failure_data.metadata)


def attempts(db_url: str, job_id: str) -> list[tuple[str, str, str]]:
    with session_scope(db_url) as s:
        return [(a.backend, a.outcome, a.error or "") for a in proof_records.attempts_of(s, job_id)]


def test_the_builtin_provers_own_log_lines_and_timings_reach_the_event_log(db_url, dagster_instance, tmp_path):
    job_id, result, logs = prove_through_dagster(db_url, dagster_instance, 11, ProverResource(backoff_s=0.01))
    assert result.success
    text = messages(logs)
    pid = the_child(text)

    # The child's Pipes log lines, written by the child itself (its pid), stored with the run.
    own = [m for m in text if m.startswith(f"zkp prove (pid {pid}): ")]
    assert len(own) == 2, text
    assert "proving the allocation of 2026-11-20 10:00 UTC under model version 1" in own[0]
    assert re.search(r"trace of \d+ rows x \d+ columns; proof of \d+ bytes, \d+-bit, in \d+ ms", own[1])
    assert "[pipes] external process successfully opened dagster pipes." in text
    assert not [m for m in text if "did not receive" in m]

    # Its timings message, turned into the step's output metadata.
    with session_scope(db_url) as s:
        job = proof_records.get_job(s, job_id)
        stored = proof_records.load_blob(s, job.proof_hash)
    md = step_metadata(logs, DagsterEventType.STEP_OUTPUT)
    [report] = md["prover_reports"].value
    assert report["pid"] == pid and report["backend"] == "builtin"
    assert report["proof_bytes"] == job.proof_size == len(stored)
    assert 0 < report["prove_ms"] <= job.generation_time_ms  # the proving alone, not the child's start-up
    assert report["trace_rows"] > 0 and report["statement_hash"] == job.statement_hash
    assert report["phases_ms"] and all(isinstance(v, int) for v in report["phases_ms"].values())
    [child] = md["prover_processes"].value
    assert child["command"].endswith(" -m zk_pipeline.cli prove") and child["pid"] == pid
    assert child["outcome"] == "exited with status 0" and child["elapsed_ms"] >= report["prove_ms"]
    assert [m for m in text if m.startswith("prover child ") and f"pid {pid}, exited with status 0" in m
            and f"reported prove_ms {report['prove_ms']}, proof_bytes {report['proof_bytes']}" in m]

    # The proof is the one the command line makes of the same statement, without Dagster.
    st = tmp_path / "statement.json"
    st.write_text(json.dumps(small_statement(11).to_dict()))
    cli = subprocess.run([sys.executable, "-m", "zk_pipeline.cli", "prove", "--input", str(st),
                          "--out", str(tmp_path / "proof.bin"), "--json"], capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0, cli.stderr
    assert (tmp_path / "proof.bin").read_bytes() == stored


def test_outside_dagster_a_prover_child_runs_without_pipes(tmp_path, monkeypatch):
    """No step, no session: no Pipes variables reach the child, even inherited ones, and ``zkp prove``
    prints exactly its report, nothing on stderr."""
    monkeypatch.setenv("DAGSTER_PIPES_CONTEXT", "eJyrrgUAAXUA+Q==")  # as if this process had been launched by one
    monkeypatch.setenv("DAGSTER_PIPES_MESSAGES", "eJyrrgUAAXUA+Q==")
    env = script(tmp_path, "env.py", "print(sorted(k for k in os.environ if k.startswith('DAGSTER_PIPES')))")
    res = run_child([env], 30)
    assert (res.returncode, res.stdout.strip(), res.stderr) == (0, "[]", "")

    statement = small_statement(12)
    art = BuiltinBackend().prove(statement, 120)
    assert art.backend == "builtin" and art.details["proof_bytes"] == len(art.proof)
    st = tmp_path / "statement.json"
    st.write_bytes(statement.canonical_bytes())
    monkeypatch.delenv("DAGSTER_PIPES_CONTEXT")
    monkeypatch.delenv("DAGSTER_PIPES_MESSAGES")
    cli = subprocess.run([sys.executable, "-m", "zk_pipeline.cli", "prove", "--input", str(st),
                          "--out", str(tmp_path / "p.bin"), "--json"], capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0 and cli.stderr == ""
    assert json.loads(cli.stdout)["proof_hash"] == art.details["proof_hash"]
    assert (tmp_path / "p.bin").read_bytes() == art.proof


CRASH = """
from dagster_pipes import open_dagster_pipes
pipes = open_dagster_pipes()
pipes.log.info(f"doomed prover (pid {os.getpid()}): own session {os.getsid(0) == os.getpid()}")
sys.stderr.write(f"core dumped in FRI folding; sees DATABASE_URL: {'DATABASE_URL' in os.environ}\\n")
sys.stderr.flush()
{ending}
"""


@pytest.mark.parametrize("ending, attempt, outcome", [
    ("os._exit(9)  # dies without closing its session", "failed", "exited with status 9"),
    ("time.sleep(60)  # killed with its session open", "timeout", "killed after its 2s timeout"),
])
def test_a_pipes_child_that_dies_mid_run_fails_its_attempt_and_the_session_ends(
        db_url, dagster_instance, tmp_path, pipes_script_backend, ending, attempt, outcome):
    doomed = script(tmp_path, "doomed.py", CRASH.replace("{ending}", ending))
    prover = ProverResource(backends=["pipes_script"], command=doomed, max_attempts=1, timeout_s=2, backoff_s=0.01)
    started = time.monotonic()
    job_id, result, logs = prove_through_dagster(db_url, dagster_instance, 13, prover)
    assert time.monotonic() - started < 60  # the session did not wait for a closing message
    assert not result.success
    [(backend, status, error)] = attempts(db_url, job_id)
    assert (backend, status) == ("pipes_script", attempt)
    if attempt == "failed":
        assert "exited with status 9" in error and "core dumped in FRI folding; sees DATABASE_URL: False" in error
    else:
        assert "no proof after 2s" in error

    text = messages(logs)
    pid = the_child(text)
    assert f"doomed prover (pid {pid}): own session True" in text
    assert [m for m in text if m.startswith("[pipes] did not receive closed message")]
    assert [m for m in text if m.startswith(f"prover child doomed.py: pid {pid}, {outcome}")]
    [child] = step_metadata(logs, DagsterEventType.STEP_FAILURE)["prover_processes"].value
    assert (child["command"], child["pid"], child["outcome"], child["pipes"]) == ("doomed.py", pid, outcome, True)


QUIET = f"""
# A prover that never opens Pipes: ``zkp prove`` with any Pipes variables taken away.
env = {{k: v for k, v in os.environ.items() if not k.startswith("DAGSTER_PIPES")}}
os.execve({sys.executable!r}, [{sys.executable!r}, "-m", "zk_pipeline.cli", "prove", "--input", sys.argv[1],
                               "--out", sys.argv[2], "--json"], env)
"""


@pytest.mark.parametrize("backend", ["command", "pipes_script"])
def test_a_child_that_never_opens_pipes_still_proves_under_dagster(db_url, dagster_instance, tmp_path,
                                                                    pipes_script_backend, backend):
    quiet = script(tmp_path, "quiet.py", QUIET)
    prover = ProverResource(backends=[backend], command=f"{quiet} {{statement}} {{out}}", backoff_s=0.01)
    job_id, result, logs = prove_through_dagster(db_url, dagster_instance, 14, prover)
    assert result.success
    assert [(b, o) for b, o, _ in attempts(db_url, job_id)] == [(backend, "succeeded")]
    text = messages(logs)
    pid = the_child(text)
    assert [m for m in text if re.fullmatch(rf"prover child quiet\.py: pid {pid}, exited with status 0, \d+ ms", m)]
    assert not [m for m in text if m.startswith("zkp prove (pid")]
    pipes_lines = [m for m in text if m.startswith("[pipes]")]
    if backend == "command":  # launched without a session
        assert pipes_lines == []
    else:  # a session nobody answered: Dagster says so, and the step goes on
        assert [m for m in pipes_lines if m.startswith("[pipes] did not receive any messages")]
    md = step_metadata(logs, DagsterEventType.STEP_OUTPUT)
    assert "prover_reports" not in md
    assert [c["outcome"] for c in md["prover_processes"].value] == ["exited with status 0"]


def test_the_allocation_proof_asset_records_its_prover_childs_report(db_url, dagster_instance):
    """The asset's step, like the op's: the child's lines in the event log, its report in the materialization."""
    result = materialize(all_assets, partition_key="2026-11-20-12:00", resources=pipeline_resources(db_url),
                         instance=dagster_instance, raise_on_error=False)
    assert result.success
    checks = result.get_asset_check_evaluations()
    assert checks and all(c.passed for c in checks)
    md = dagster_instance.get_latest_materialization_event(AssetKey("allocation_proof")).asset_materialization.metadata
    [report] = md["prover_reports"].value
    [child] = md["prover_processes"].value
    pid = report["pid"]
    assert pid == child["pid"] != os.getpid() and report["proof_bytes"] == md["proof_bytes"].value
    text = messages(dagster_instance.all_logs(result.run_id))
    assert f"prover process {pid} started" in text
    assert [m for m in text if m.startswith(f"zkp prove (pid {pid}): proving the allocation of 2026-11-20 12:00 UTC")]
