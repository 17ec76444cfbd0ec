"""The Stone backend where a real Stone cannot be made to misbehave: clearly named doubles.

The real ``cpu_air_prover`` / ``cpu_air_verifier`` are exercised in
``test_stone_real.py`` (proof, verification, tampering, a killed prover, a
failing prover). Here the doubles stand in for what a real binary does not
do on demand: hang (the verifier's timeout, a prover's grandchild), exit 0
without a proof, prove with parameters our checks must refuse; a fake
cairo-run keeps these fast, writing a strict public input laid out like a
real Stone proof's.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from tests.provers import doubles
from zk_pipeline import cairo
from zk_pipeline.provers.base import ProofArtifact, ProverFailed, ProverTimeout, ProverUnavailable
from zk_pipeline.provers.stone import StoneBackend, conjectured_security_bits, fri_step_list, params_for

SHIPPED_PARAMS = json.loads(cairo.DEFAULT_PARAMS_FILE.read_text())


def backend(tmp: Path, *, cairo_run: str, prover: Path | None = None, verifier: Path | None = None,
            **kw) -> StoneBackend:
    return StoneBackend(cairo_run=cairo_run, cpu_air_prover=str(prover or doubles.write_fake_cpu_air_prover(tmp)),
                        cpu_air_verifier=str(verifier or doubles.write_fake_cpu_air_verifier(tmp)),
                        cache_dir=doubles.compile_cache(), **kw)


def fake_run(tmp: Path, statement, **kw) -> str:
    return str(doubles.write_fake_cairo_run(tmp, cairo.expected_output(statement), **kw))


def test_unavailable_names_what_is_missing(tmp_path):
    b = StoneBackend(cairo_run=str(tmp_path / "venv" / "bin" / "cairo-run"), cpu_air_prover="no-such-cpu_air_prover",
                     cpu_air_verifier=str(tmp_path / "cpu_air_verifier"), params_file=tmp_path / "params.json")
    with pytest.raises(ProverUnavailable) as err:
        b.check_available()
    msg = str(err.value)
    assert msg.startswith("stone: missing")
    for name in ("cairo-run", "cpu_air_prover (no-such-cpu_air_prover not found on PATH)",
                 "cpu_air_verifier", "is not an executable file", "parameter file"):
        assert name in msg
    # With nothing configured, this machine has no Stone binaries: the environment-built backend says so.
    env = {"PATH": str(tmp_path)}
    with pytest.raises(ProverUnavailable, match="cpu_air_prover.*cpu_air_verifier"):
        StoneBackend.from_env(env).check_available()


def test_shipped_parameters_security_and_fri_equation():
    assert conjectured_security_bits(SHIPPED_PARAMS) == 37 * 2 + 22 == 96
    assert SHIPPED_PARAMS["commitment_hash"] == "keccak256_masked160_lsb"  # Integrity's keccak_160_lsb
    assert SHIPPED_PARAMS["n_verifier_friendly_commitment_layers"] == 0  # keccak on every Merkle layer
    fri = SHIPPED_PARAMS["stark"]["fri"]
    assert (fri["last_layer_degree_bound"].bit_length() - 1) + sum(fri["fri_step_list"]) == 16 + 4
    for log_n in range(3, 25):
        steps = fri_step_list(2**log_n, 64)
        assert steps[0] == 0 and all(1 <= s <= 4 for s in steps[1:])
        assert 6 + sum(steps) == log_n + 4
        assert params_for(2**log_n, SHIPPED_PARAMS)["stark"]["fri"]["fri_step_list"] == steps
    assert params_for(2**16, SHIPPED_PARAMS) == SHIPPED_PARAMS
    with pytest.raises(ValueError):
        fri_step_list(3000, 64)


def test_proof_of_another_program_is_invalid():
    """A real Stone proof (Integrity's Fibonacci example) is a valid proof, of the wrong program."""
    real = (doubles.STONE_PROOFS / "recursive_cairo0_stone5_keccak_160_lsb_example_proof.json").read_bytes()
    b = StoneBackend(cairo_run="cairo-run", cache_dir=doubles.compile_cache())
    art = ProofArtifact(real, "stone", 0, {})
    st = doubles.default_model_statement(25)
    v = b.verify(st, art, min_security_bits=96)
    assert not v.valid and v.security_bits == 50 and "50 bits is below the required 96" in v.reason
    v = b.verify(st, art, min_security_bits=0)
    assert not v.valid and "not the allocation program" in v.reason
    garbage = b.verify(st, ProofArtifact(b"\x00not json", "stone", 0, {}), min_security_bits=0)
    assert not garbage.valid and "not a usable Stone proof" in garbage.reason


def test_low_security_parameters_give_an_invalid_proof(tmp_path):
    weak = json.loads(json.dumps(SHIPPED_PARAMS))
    weak["stark"]["fri"].update(n_queries=10, proof_of_work_bits=20)
    weak["stark"]["log_n_cosets"] = 2
    (tmp_path / "weak.json").write_text(json.dumps(weak))
    st = doubles.default_model_statement(26)
    b = backend(tmp_path, cairo_run=fake_run(tmp_path, st), params_file=tmp_path / "weak.json")
    art = b.prove(st, timeout_s=120)
    assert art.details["security_bits"] == 40
    v = b.verify(st, art, min_security_bits=96)
    assert not v.valid and v.security_bits == 40 and "40 bits is below the required 96" in v.reason


def test_prover_crash_and_missing_proof_are_failures(tmp_path):
    st = doubles.default_model_statement(27)
    run = fake_run(tmp_path, st)
    crash = doubles.write_fake_cpu_air_prover(tmp_path, mode="exit", code=134, stderr="std::bad_alloc")
    with pytest.raises(ProverFailed, match=r"cpu_air_prover: exited with status 134: std::bad_alloc"):
        backend(tmp_path, cairo_run=run, prover=crash).prove(st, timeout_s=60)
    silent = doubles.write_fake_cpu_air_prover(tmp_path, mode="no_proof")
    with pytest.raises(ProverFailed, match="wrote no proof"):
        backend(tmp_path, cairo_run=run, prover=silent).prove(st, timeout_s=60)
    # A cairo-run that disagrees with the model is stopped before any proving.
    wrong = str(doubles.write_fake_cairo_run(tmp_path, [0] * 18))
    with pytest.raises(ProverFailed, match="differs from the model's"):
        backend(tmp_path, cairo_run=wrong).prove(st, timeout_s=60)
    failing = str(doubles.write_fake_cairo_run(tmp_path, [], mode="exit"))
    with pytest.raises(ProverFailed, match="cairo-run: exited with status 1: Error: An ASSERT_EQ"):
        backend(tmp_path, cairo_run=failing).prove(st, timeout_s=60)


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie still answers signal 0 until reaped; a killed, unreaped grandchild is reaped by init soon.
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "State:\tZ" in status.read_text()


def _wait_gone(pid: int, seconds: float = 5) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if _gone(pid):
            return True
        time.sleep(0.05)
    return _gone(pid)


def test_timeout_kills_the_prover_and_its_children(tmp_path):
    st = doubles.default_model_statement(28)
    pidfile = tmp_path / "prover.pid"
    hang = doubles.write_fake_cpu_air_prover(tmp_path, mode="hang", pidfile=str(pidfile))
    started_pids = []
    b = backend(tmp_path, cairo_run=fake_run(tmp_path, st), prover=hang, on_start=started_pids.append)
    b.compiled()  # compiled beforehand (cached): the deadline is the prover's alone, even on a loaded machine
    t0 = time.monotonic()
    with pytest.raises(ProverTimeout, match="cpu_air_prover still running after 6s; killed"):
        b.prove(st, timeout_s=6)
    assert time.monotonic() - t0 < 20
    pid, child = int(pidfile.read_text()), int(Path(str(pidfile) + ".child").read_text())
    assert pid in started_pids  # on_start saw the prover
    assert _wait_gone(pid) and _wait_gone(child)  # the whole process group, grandchild included


def test_verifier_timeout_kills_it(tmp_path):
    st = doubles.default_model_statement(29)
    pidfile = tmp_path / "verifier.pid"
    b = backend(tmp_path, cairo_run=fake_run(tmp_path, st),
                verifier=doubles.write_fake_cpu_air_verifier(tmp_path, mode="hang", pidfile=str(pidfile)),
                verify_timeout_s=3)
    art = b.prove(st, timeout_s=60)
    with pytest.raises(ProverTimeout, match="cpu_air_verifier still running"):
        b.verify(st, art, min_security_bits=96)
    assert _wait_gone(int(pidfile.read_text()))


def test_statement_the_program_cannot_take_fails_fast(tmp_path):
    from dataclasses import replace

    st = doubles.default_model_statement(30)
    huge = replace(st, params=replace(st.params, liquidity_tier_thresholds=(2**64, 2**63, 10)))
    b = backend(tmp_path, cairo_run=fake_run(tmp_path, st))
    with pytest.raises(ProverFailed, match=r"cannot be proven by the Cairo program: .*outside \[0, 2\*\*63\)"):
        b.prove(huge, timeout_s=30)
    art = b.prove(st, timeout_s=30)
    v = b.verify(huge, art, 96)
    assert not v.valid and "cannot be a program input" in v.reason
