"""The risk model as a Cairo program: it compiles, and its runs agree with the Python model bit for bit.

The runs use the real cairo-run (cairo-lang 0.14, Python 3.10: see
``doubles.cairo_run_or_fail`` for what happens on a machine without it). They
run in parallel: a small statement takes a few seconds, the real replay
statement (model v1, 720-hour window, 2**17 steps) about half a minute.
"""

from __future__ import annotations

import pytest

import json
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from starknet_py.hash.utils import compute_hash_on_elements

from tests.provers import doubles
from zk_pipeline import cairo
from zk_pipeline.facts import stone as stone_facts
from zk_pipeline.provers.stone import conjectured_security_bits, fri_step_list
from zk_pipeline.risk.model import ALLOCATION_ORDER

RANDOM_SEEDS = [(1, False), (2, True), (3, True), (5, True)]


def test_program_compiles_in_proof_mode_and_is_cached(tmp_path):
    cache = doubles.compile_cache()
    first = cairo.compile_program(cache_dir=cache)
    assert first.path.exists() and first.proof_mode and first.path.parent == cache
    assert first.data[:3] == (stone_facts.ENTRY_AP_ADD, 4, stone_facts.ENTRY_CALL_REL)  # proof-mode stub, 4 builtins
    assert first.builtins == ("output", "pedersen", "range_check", "ecdsa")  # the small layout's, as strict mode wants
    stamp = first.path.stat().st_mtime_ns
    again = cairo.compile_program(cache_dir=cache)
    assert again.path == first.path and again.path.stat().st_mtime_ns == stamp  # reused, not recompiled
    plain = cairo.compile_program(proof_mode=False, cache_dir=cache)
    assert plain.path != first.path and plain.data[0] != stone_facts.ENTRY_AP_ADD

    # A changed source is a different cache entry.
    edited = tmp_path / "allocation.cairo"
    edited.write_text(cairo.PROGRAM_SOURCE.read_text() + "\n// comment\n")
    other = cairo.compile_program(cache_dir=tmp_path, source=edited)
    assert other.path != first.path and other.path.parent == tmp_path and other.data == first.data


def test_bootloader_hash_is_cairo_langs():
    from types import SimpleNamespace

    from starkware.cairo.bootloaders.hash_program import HashFunction, compute_program_hash_chain

    plain = doubles.compiled(proof_mode=False)
    doc = json.loads(plain.path.read_text())
    # cairo-lang's own function, on the program's fields (Program.load itself takes seconds).
    program = SimpleNamespace(builtins=doc["builtins"], main=doc["identifiers"]["__main__.main"]["pc"],
                              data=[int(x, 16) for x in doc["data"]])
    assert plain.main == program.main and plain.builtins == tuple(program.builtins)
    assert plain.bootloader_program_hash == compute_program_hash_chain(program, HashFunction.PEDERSEN)


def test_param_order_is_the_cairo_struct_order():
    source = cairo.PROGRAM_SOURCE.read_text()
    body = re.search(r"struct Params \{(.*?)\}", source, re.S).group(1)
    members = re.findall(r"(\w+): felt", body)
    assert tuple(members) == cairo.PARAM_ORDER
    result = re.search(r"struct ProtocolResult \{(.*?)\}", source, re.S).group(1)
    assert tuple(re.findall(r"(\w+): felt", result)) == cairo.PROTOCOL_OUTPUTS


def test_program_input_and_expected_output_shapes():
    st = doubles.random_statement(11, wild=True)
    p = st.params
    flat = cairo.flat_inputs(st)
    series_len = p.volatility_window_hours + 2 * p.utilization_window_hours + 1
    assert len(flat) == 1 + len(cairo.PARAM_ORDER) + 2 * series_len
    assert flat[0] == st.hour_unix
    assert cairo.program_input(st) == {"model_hash": st.model_hash, "inputs": flat}
    out = cairo.expected_output(st)
    assert len(out) == cairo.OUTPUT_SIZE == 18
    assert out[1] == st.model_hash
    summary = st.evaluate().summary()
    assert out[-2:] == [summary["allocation"]["jediswap_bps"], summary["allocation"]["ekubo_bps"]]
    assert out[2:9] == [summary["protocols"]["jediswap"][k] for k in cairo.PROTOCOL_OUTPUTS]

    # The commitment is the Pedersen chain of the inputs packed three to a felt, and moves with any input.
    packed = cairo.packed_inputs(st)
    assert len(packed) == -(-len(flat) // 3) and all(w < 2**189 for w in packed)
    assert out[0] == cairo.inputs_commitment(st) == compute_hash_on_elements(packed)
    from dataclasses import replace

    jedi = st.series["jediswap"]
    bumped = replace(st, series={**st.series, "jediswap": replace(jedi, tvl=jedi.tvl - 1 if jedi.tvl > 1 else 2)})
    assert cairo.inputs_commitment(bumped) != out[0]
    later = replace(st, hour=st.hour.replace(hour=st.hour.hour + 1))
    assert cairo.inputs_commitment(later) != out[0]


def _run(cairo_run: str, compiled: cairo.CompiledProgram, statement, workdir: Path, **kw) -> cairo.CairoRun:
    workdir.mkdir(parents=True, exist_ok=True)
    return cairo.run_program(compiled, statement, workdir, cairo_run=cairo_run, timeout_s=300, **kw)


def _run_raw(cairo_run: str, compiled: cairo.CompiledProgram, program_input: dict, workdir: Path):
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "in.json").write_text(json.dumps(program_input))
    return subprocess.run([cairo_run, "--program", str(compiled.path), "--program_input", str(workdir / "in.json"),
                           "--layout", cairo.LAYOUT, "--print_output"], capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_runs_match_the_python_model_bit_for_bit(tmp_path):
    """Random small statements (wild ones hit the +100 % cap, price 1, TVL 1, 2**63 - 1 inputs, every clamp)
    and the real replay statement; plus inputs the program must refuse.

    The real statement runs in proof mode, as Stone proves it. The small ones run the plain build of the same
    source (what a PIE is made of): in proof mode every run is padded to at least 2**13 steps (the
    range-check holes of 63-bit values need up to 65,535 spare cells, 13 per step in the small layout)."""
    cairo_run = doubles.cairo_run_or_fail()
    proof_prog, plain_prog = doubles.compiled(True), doubles.compiled(False)
    statements = {f"random-{seed}": doubles.random_statement(seed, wild=wild) for seed, wild in RANDOM_SEEDS}
    statements["v1-small"] = doubles.default_model_statement(7)
    replay = doubles.replay_statement()

    bad_price = cairo.program_input(statements["random-1"])
    bad_price["inputs"][1 + len(cairo.PARAM_ORDER) + 2] = 2**63  # a price out of range
    short = cairo.program_input(statements["random-1"])
    short["inputs"] = short["inputs"][:-1]  # one input missing
    zero_tvl = cairo.program_input(statements["random-5"])
    p = statements["random-5"].params
    zero_tvl["inputs"][len(cairo.PARAM_ORDER) + p.volatility_window_hours + 2 * p.utilization_window_hours + 1] = 0

    with ThreadPoolExecutor(max_workers=8) as pool:
        real = pool.submit(_run, cairo_run, proof_prog, replay, tmp_path / "replay", cache_dir=tmp_path / "cache")
        runs = {name: pool.submit(_run, cairo_run, plain_prog, st, tmp_path / name)
                for name, st in statements.items()}
        refused = {name: pool.submit(_run_raw, cairo_run, plain_prog, inp, tmp_path / name)
                   for name, inp in (("bad-price", bad_price), ("short", short), ("zero-tvl", zero_tvl))}

        for name, fut in runs.items():
            assert fut.result().output == cairo.expected_output(statements[name]), name
        for name, fut in refused.items():
            proc = fut.result()
            assert proc.returncode != 0, f"{name}: the program accepted an invalid input"

        run = real.result()
    expected = cairo.expected_output(replay)
    assert run.output == expected

    # The same statement again comes from the run cache: no cairo-run process, the same files, and a
    # private input that points at this run's own trace and memory.
    started: list[int] = []
    again = _run(cairo_run, proof_prog, replay, tmp_path / "again", cache_dir=tmp_path / "cache",
                 on_start=started.append)
    assert started == [] and again.output == expected
    for name in ("public_input", "trace", "memory"):
        assert getattr(again, name).read_bytes() == getattr(run, name).read_bytes(), name
    private = json.loads(again.private_input.read_text())
    assert (private["trace_path"], private["memory_path"]) == (str(again.trace), str(again.memory))
    summary = replay.evaluate().summary()
    assert expected[-2] + expected[-1] == 10_000 and summary["protocols"]["jediswap"]["risk"] == expected[8]

    # The AIR public input carries exactly this program and this output, as Integrity carves them (strict).
    public = json.loads(run.public_input.read_text())
    params = json.loads(cairo.DEFAULT_PARAMS_FILE.read_text())
    proof = stone_facts.parse_stone_proof({"proof_parameters": params, "public_input": public, "proof_hex": "0x0"})
    facts = stone_facts.compute_facts(proof, "strict")
    assert facts.program_hash == proof_prog.program_hash
    assert list(facts.output) == expected
    # Model v1 runs in 2**16 steps (small layout), which the shipped parameters are sized for (FRI degree equation).
    assert public["n_steps"] == 2**16 and public["layout"] == "small"
    fri = params["stark"]["fri"]
    assert fri["fri_step_list"] == fri_step_list(2**16, fri["last_layer_degree_bound"])
    assert facts.fri.ok is True
    assert conjectured_security_bits(params) == facts.security_bits == 96


def test_replay_statement_is_model_v1():
    st = doubles.replay_statement()
    assert st.params.volatility_window_hours == 720 and st.version == 1
    assert sorted(st.series) == sorted(ALLOCATION_ORDER)
    assert max(cairo.flat_inputs(st)) < 2**63


def test_setup_script_says_when_there_is_no_python310(tmp_path):
    """The honest failure the cairo-run policy relies on: exit 3 and a reason, no half-built venv.

    A ``python3.10`` that is not one (like a pyenv shim for a version that is not installed) is refused.
    """
    shim = tmp_path / "bin" / "python3.10"
    shim.parent.mkdir()
    shim.write_text("#!/bin/sh\necho 'pyenv: python3.10: command not found' >&2\nexit 127\n")
    shim.chmod(0o755)
    env = {"PATH": f"{shim.parent}:/usr/bin:/bin", "HOME": str(tmp_path), "PYENV_ROOT": str(tmp_path / "nope")}
    proc = subprocess.run(["bash", str(doubles.SETUP_SCRIPT), str(tmp_path / "venv")], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3
    assert "no Python 3.10 interpreter found" in proc.stderr
    assert not (tmp_path / "venv").exists()
