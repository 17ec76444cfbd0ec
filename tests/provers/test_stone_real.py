"""StarkWare's real Stone: ``zkp prove/verify --backend stone`` and the backend's failure paths.

One real proof per test module (a 16-hour statement: 8,192 Cairo steps in
the ``small`` layout, ~15 s), made through the command line a user runs; the
other tests re-verify it, tampered in different ways, with the real
``cpu_air_verifier``. Without Stone on this machine every test here is
SKIPPED with the reason and the install command (``make stone``), never passed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.provers import doubles
from zk_pipeline import cairo
from zk_pipeline.facts import stone as stone_facts
from zk_pipeline.provers.base import ProofArtifact, ProverFailed, ProverTimeout
from zk_pipeline.provers.stone import StoneBackend, fri_step_list

pytestmark = pytest.mark.slow
STATEMENT_SEED = 41


def _env() -> dict[str, str]:
    prover, verifier = doubles.stone_or_skip()
    return {**os.environ, "ZKP_STONE_PROVER": prover, "ZKP_STONE_VERIFIER": verifier,
            "ZKP_STONE_CAIRO_RUN": doubles.cairo_run_or_fail(), "ZKP_CAIRO_CACHE": str(doubles.compile_cache())}


def _zkp(*argv: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zk_pipeline.cli", *argv], capture_output=True, text=True,
                          env=env, timeout=600)


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """The statement, its file, the proof file and ``zkp prove --backend stone --json``'s summary."""
    env = _env()
    tmp = tmp_path_factory.mktemp("stone-real")
    st = doubles.default_model_statement(STATEMENT_SEED)
    (tmp / "s.json").write_text(json.dumps(st.to_dict()))
    res = _zkp("prove", "--backend", "stone", "--input", str(tmp / "s.json"), "--out", str(tmp / "proof.json"),
               "--json", env=env)
    assert res.returncode == 0, res.stderr
    return {"statement": st, "dir": tmp, "env": env, "summary": json.loads(res.stdout),
            "proof": (tmp / "proof.json").read_bytes()}


def _backend(env: dict[str, str], **kw) -> StoneBackend:
    return StoneBackend(cairo_run=env["ZKP_STONE_CAIRO_RUN"], cpu_air_prover=env["ZKP_STONE_PROVER"],
                        cpu_air_verifier=env["ZKP_STONE_VERIFIER"], cache_dir=doubles.compile_cache(), **kw)


def test_the_command_line_proves_with_stone_and_reports_the_facts(real):
    s, proof = real["summary"], json.loads(real["proof"])
    # Stone's own proof JSON, as cpu_air_prover writes it, with the annotations Integrity's serializer needs.
    assert proof["annotations"] and proof["proof_hex"].startswith("0x")
    assert proof["public_input"]["layout"] == s["layout"] == "small"
    n_steps = proof["public_input"]["n_steps"]
    assert s["n_steps"] == n_steps == 2**13
    assert proof["proof_parameters"]["stark"]["fri"]["fri_step_list"] == fri_step_list(n_steps, 64)
    assert s["security_bits"] == 37 * 2 + 22 == 96 and s["proof_bytes"] == len(real["proof"])
    assert s["prove_ms"] >= s["cpu_air_prover_ms"] > 0
    assert (s["hasher"], s["stone_version"], s["memory_verification"]) == ("keccak_160_lsb", "stone6", "strict")
    facts = stone_facts.compute_facts(stone_facts.parse_stone_proof(proof), "strict", "stone6")
    assert facts.fri.ok
    assert (s["program_hash"], s["output_hash"], s["fact_hash"], s["verification_hash"]) == (
        hex(facts.program_hash), hex(facts.output_hash), hex(facts.fact_hash), hex(facts.verification_hash))
    assert facts.program_hash == doubles.compiled(True).program_hash
    assert list(facts.output) == cairo.expected_output(real["statement"])


def test_the_command_line_verifies_it_with_stones_verifier(real):
    d, env = real["dir"], real["env"]
    args = ("verify", "--backend", "stone", "--input", str(d / "s.json"), "--proof", str(d / "proof.json"), "--json")
    res = _zkp(*args, "--allow-unregistered-model", env=env)
    out = json.loads(res.stdout)
    assert res.returncode == 0 and out["valid"] and out["reason"] == "", res.stderr
    assert out["security_bits"] == 96 and out["fact_hash"] == real["summary"]["fact_hash"]
    # The test statement's model is not a registered version: refused unless asked for.
    res = _zkp(*args, env=env)
    assert res.returncode == 1 and not json.loads(res.stdout)["valid"] and "not the registered hash" in res.stderr
    # Another statement: the real proof says nothing about it.
    (d / "other.json").write_text(json.dumps(doubles.default_model_statement(STATEMENT_SEED + 1).to_dict()))
    res = _zkp("verify", "--backend", "stone", "--input", str(d / "other.json"), "--proof", str(d / "proof.json"),
               "--json", "--allow-unregistered-model", env=env)
    assert res.returncode == 1 and "not this statement's result" in json.loads(res.stdout)["reason"]


def _tampered(proof: bytes, edit) -> ProofArtifact:
    doc = json.loads(proof)
    edit(doc)
    return ProofArtifact(json.dumps(doc).encode(), "stone", 0, {})


def test_stones_verifier_rejects_a_tampered_real_proof(real):
    b, st = _backend(real["env"]), real["statement"]
    assert b.verify(st, ProofArtifact(real["proof"], "stone", 0, {}), 96).valid

    def flip_proof_byte(doc):
        h = doc["proof_hex"]
        i = len(h) // 2
        doc["proof_hex"] = h[:i] + ("1" if h[i] != "1" else "2") + h[i + 1:]

    def widen_rc(doc):  # a public input field none of our own checks looks at
        doc["public_input"]["rc_max"] += 1

    for edit in (flip_proof_byte, widen_rc):
        v = b.verify(st, _tampered(real["proof"], edit), 96)
        assert not v.valid and v.reason.startswith("rejected by cpu_air_verifier: exited with status"), edit

    # A changed output is caught before the verifier runs: it is not this statement's result.
    def change_output(doc):
        doc["public_input"]["public_memory"][-1]["value"] = "0x1"

    v = b.verify(st, _tampered(real["proof"], change_output), 96)
    assert not v.valid and "not this statement's result" in v.reason


def test_a_timeout_kills_the_real_prover(real, tmp_path):
    """The Cairo run is cached by now, so the deadline falls while cpu_air_prover is proving."""
    started: list[int] = []
    b = _backend(real["env"], on_start=started.append)
    t0 = time.monotonic()
    with pytest.raises(ProverTimeout, match="cpu_air_prover still running after 2s; killed"):
        b.prove(real["statement"], timeout_s=2)
    assert time.monotonic() - t0 < 10
    prover_pid = started[-1]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.killpg(prover_pid, 0)  # the prover's whole process group (wrapper script and binary)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"process group {prover_pid} of the killed cpu_air_prover is still alive")


def test_a_real_stone_failure_is_a_prover_failure(real, tmp_path):
    params = json.loads(cairo.DEFAULT_PARAMS_FILE.read_text())
    params["commitment_hash"] = "no_such_hash"
    (tmp_path / "bad.json").write_text(json.dumps(params))
    b = _backend(real["env"], params_file=tmp_path / "bad.json")
    reason = r"(?s)stone: cpu_air_prover: (killed by signal|exited with status) \d+: .*Unexpected type\.$"
    with pytest.raises(ProverFailed, match=reason):  # Stone's own message, its backtrace left out
        b.prove(real["statement"], timeout_s=120)


def test_without_stone_the_command_says_how_to_install_it(tmp_path):
    st = doubles.default_model_statement(STATEMENT_SEED)
    (tmp_path / "s.json").write_text(json.dumps(st.to_dict()))
    env = {**os.environ, "ZKP_STONE_PROVER": str(tmp_path / "none"), "ZKP_STONE_VERIFIER": str(tmp_path / "none")}
    res = _zkp("prove", "--backend", "stone", "--input", str(tmp_path / "s.json"), "--out", str(tmp_path / "p"),
               env=env)
    assert res.returncode == 2 and res.stdout == ""
    (line,) = res.stderr.splitlines()
    assert line.startswith("zkp: error: stone: missing") and "make stone" in line
    assert not Path(tmp_path / "p").exists()
    # The built-in prover's options are refused, not ignored.
    res = _zkp("prove", "--backend", "stone", "--compact", "--input", str(tmp_path / "s.json"), "--out",
               str(tmp_path / "p"), env=env)
    assert res.returncode == 2 and res.stderr.startswith("zkp: error: --compact: only for the built-in prover")
