"""Integrity facts of the three real Stone proofs in tests/data/stone_proofs.

Cross-checks against published values:
* recursive Cairo 0 proof: program hash and output hash are the ones Integrity's
  own test suite asserts for this public input (``test_public_input_verify`` in
  ``src/air/tests/test_public_input.cairo``, fixture ``stone_proof_fibonacci``),
  and its public input hash is the one Integrity asserts in
  ``test_get_public_input_hash`` (fixture ``stone_proof_fibonacci_keccak``, stone5);
* the same proof's fact hash is the one reported as registered on a Starknet
  FactRegistry by a third party (Obsqra-Labs/obsqra.starknet notes).
The small (stone6) and Cairo 1 proofs have no published hashes; their values are
pinned as regressions.
"""

from __future__ import annotations

import argparse
import copy
import json

import pytest
from starknet_py.hash.hash_method import HashMethod

from tests.data import stone_proofs
from zk_pipeline.cli import stone_cmd
from zk_pipeline.facts.hashing import fact_hash, verification_hash
from zk_pipeline.facts.stone import (
    MemoryVerificationError,
    StoneProofError,
    compute_facts,
    fri_degree_check,
    load_stone_proof,
    output_hash,
    parse_stone_proof,
    program_hash,
    public_input_hash,
    security_bits,
    verifier_config_hash,
)
from zk_pipeline.stark.field import P

PROOFS = stone_proofs()
RECURSIVE0 = "recursive_cairo0_stone5_keccak_160_lsb_example_proof.json"
SMALL0 = "small_cairo0_stone6_keccak_160_lsb_example_proof.json"
RECURSIVE1 = "recursive_cairo1_stone5_keccak_160_lsb_example_proof.json"

H = HashMethod.POSEIDON.hash_many

# file -> (mode, stone version, layout, n_steps, security bits, FRI lhs == rhs)
CASES = {
    RECURSIVE0: ("strict", "stone5", "recursive", 16384, 50, 18),
    SMALL0: ("strict", "stone6", "small", 65536, 60, 20),
    RECURSIVE1: ("cairo1", "stone5", "recursive", 16384, 50, 18),
}

# Integrity's published values for the recursive Cairo 0 example (see module docstring).
PUBLISHED_RECURSIVE0 = {
    "program_hash": 0x7AC5582E353F8750487838481A46B5429EF84B2F18F909AAAB9388F1FE0A28B,
    "output_hash": 0x60CBF4532B874A9A19557A55B45663831F71E21438525174B82842A1FAB0EC4,
    "public_input_hash_stone5": 0xAF91F2C71F4A594B1575D258CE82464475C82D8FB244142D0DB450491C1B52,
    "fact_hash": 0x32FC402A33E11316A8BE5FBC6094E388BF2804969753715BCBC9B783B1E1156,
}

# Regression pins (computed here, not published elsewhere).
PINNED = {
    SMALL0: {
        "program_hash": "0x7ac5582e353f8750487838481a46b5429ef84b2f18f909aaab9388f1fe0a28b",
        "output_hash": "0x4e080977f3153468c1e538d6a12a951d336d13f5217b58663cabae57d7ec01f",
        "fact_hash": "0x1e69a6f91b41e77c283fde3bdda3d31e624b4535e541fd122bb0408e1ab6dec",
        "public_input_hash": "0x35db6963cc33ab6f3ce9e31648c9b979fdbb09620520c903d70fbb92d4e72ed",
        "verifier_config_hash": "0x30687b6815225fd525614098406257586aa947fa2b7fdd5a9bfe1a918824917",
        "verification_hash": "0x47c069f9df76cc5a1f33d5a4423acefa22efbe6efcb6c0d6550e3e19730d9c6",
    },
    RECURSIVE1: {
        "program_hash": "0x1ac2beb7a0a4e6f10a14a74d6f3589b80d53255bf8f237d60e3b6943f9dab6b",
        "output_hash": "0x579e8877c7755365d5ec1ec7d3a94a457eff5d1f40482bbe9729c064cdead2",
        "fact_hash": "0x18cba4c5b5fbbe0773f90851f8945657d8a057ec5ef9f108dbcb631eef8a41f",
        "public_input_hash": "0x1a8d21202a950e22446ccab4bb02b9e1b108ecf6c9a40f13c13000205ce18a6",
        "verifier_config_hash": "0x5f879d0bf1fa29e00713982e96e967ddb949a398ee18d2ffd2cd384eca1ca7c",
        "verification_hash": "0x712d14cf67a7e3bea48414365202d386b09c7dc24396d8d516701611d33ca11",
    },
    RECURSIVE0: {
        "verifier_config_hash": "0x5913842503c5193abca5831861cb38914730e9320077e703d6d3986af7c0dcf",
        "verification_hash": "0x571f758be98a1824edaab35f9a3b4eb1f884a3c2479c22bf2250d39bb9851ab",
    },
}


def short_string(text: str) -> int:
    return int.from_bytes(text.encode("ascii"), "big")


@pytest.fixture(scope="module")
def docs() -> dict[str, dict]:
    return {name: json.loads((PROOFS / name).read_text()) for name in CASES}


# ------------------------------------------------------------------ parsing, security, FRI


@pytest.mark.parametrize("name", list(CASES))
def test_each_proof_parses(name):
    mode, _, layout, n_steps, _, _ = CASES[name]
    proof = load_stone_proof(PROOFS / name)
    assert proof.layout == layout and proof.n_steps == n_steps
    assert proof.hasher == "keccak_160_lsb"
    assert {"program", "execution", "output"} <= set(proof.segments)
    assert all(c.page == 0 for c in proof.public_memory)


@pytest.mark.parametrize("name", list(CASES))
def test_security_bits(name, docs):
    fri = docs[name]["proof_parameters"]["stark"]["fri"]
    log_n_cosets = docs[name]["proof_parameters"]["stark"]["log_n_cosets"]
    expected = CASES[name][4]
    assert fri["n_queries"] * log_n_cosets + fri["proof_of_work_bits"] == expected
    assert security_bits(load_stone_proof(PROOFS / name)) == expected


def test_security_bits_per_proof_spelled_out(docs):
    # recursive: 10 queries x log2(4 cosets) + 30 pow bits; small: 18 x 2 + 24.
    assert security_bits(parse_stone_proof(docs[RECURSIVE0])) == 10 * 2 + 30 == 50
    assert security_bits(parse_stone_proof(docs[SMALL0])) == 18 * 2 + 24 == 60
    assert security_bits(parse_stone_proof(docs[RECURSIVE1])) == 10 * 2 + 30 == 50


@pytest.mark.parametrize("name", list(CASES))
def test_fri_degree_equation_holds(name):
    check = fri_degree_check(load_stone_proof(PROOFS / name))
    assert check.ok is True
    assert check.lhs == check.rhs == CASES[name][5]
    assert check.log2_last_layer_degree_bound == 7  # last_layer_degree_bound 128


def test_fri_degree_equation_reports_a_mismatch(docs):
    doc = copy.deepcopy(docs[RECURSIVE0])
    doc["proof_parameters"]["stark"]["fri"]["fri_step_list"] = [0, 4, 4, 2]
    check = fri_degree_check(parse_stone_proof(doc))
    assert (check.lhs, check.rhs, check.ok) == (17, 18, False)
    doc["public_input"]["layout"] = "some_future_layout"
    assert fri_degree_check(parse_stone_proof(doc)).ok is None


# ------------------------------------------------------------------ hashes


def test_recursive_cairo0_matches_integrity_published_values(docs):
    proof = parse_stone_proof(docs[RECURSIVE0])
    assert program_hash(proof, "strict") == PUBLISHED_RECURSIVE0["program_hash"]
    assert output_hash(proof, "strict") == PUBLISHED_RECURSIVE0["output_hash"]
    assert public_input_hash(proof, "stone5") == PUBLISHED_RECURSIVE0["public_input_hash_stone5"]
    facts = compute_facts(proof, "strict")
    assert facts.fact_hash == PUBLISHED_RECURSIVE0["fact_hash"]
    assert facts.output == (0xA, 0x90) and facts.program_length == 34


@pytest.mark.parametrize("name", list(CASES))
def test_fact_hash_is_poseidon_of_program_and_output(name):
    mode = CASES[name][0]
    facts = compute_facts(load_stone_proof(PROOFS / name), mode)
    assert facts.fact_hash == H([facts.program_hash, facts.output_hash])
    assert facts.fact_hash == fact_hash(facts.program_hash, facts.output_hash)
    # Integrity's sponge over two felts, not Starknet's two-input poseidon_hash.
    assert facts.fact_hash != HashMethod.POSEIDON.hash(facts.program_hash, facts.output_hash)


@pytest.mark.parametrize("name", [SMALL0, RECURSIVE1])
def test_pinned_hashes(name):
    mode, stone, *_ = CASES[name]
    out = compute_facts(load_stone_proof(PROOFS / name), mode, stone).to_json()
    for key, value in PINNED[name].items():
        assert out[key] == value, key


def test_small_and_recursive_run_the_same_program(docs):
    # Same Cairo 0 program (identical 34 program cells), different runs and layouts.
    rec = compute_facts(parse_stone_proof(docs[RECURSIVE0]))
    small = compute_facts(parse_stone_proof(docs[SMALL0]))
    assert rec.program_hash == small.program_hash
    assert rec.output_hash != small.output_hash and rec.fact_hash != small.fact_hash


def test_to_json_hex_format(docs):
    out = compute_facts(parse_stone_proof(docs[RECURSIVE0]), "strict", "stone5").to_json()
    for key in ("program_hash", "output_hash", "fact_hash", "public_input_hash", "verifier_config_hash",
                "verification_hash"):
        assert out[key].startswith("0x") and out[key] == out[key].lower()
        assert int(out[key], 16) < P
    assert out["fact_hash"] == hex(PUBLISHED_RECURSIVE0["fact_hash"])
    assert json.loads(json.dumps(out)) == out


# ------------------------------------------------------------------ memory verification modes


@pytest.mark.parametrize("name", [RECURSIVE0, SMALL0])
def test_cairo0_strict_and_relaxed_agree_cairo1_refused(name, docs):
    proof = parse_stone_proof(docs[name])
    strict, relaxed = compute_facts(proof, "strict"), compute_facts(proof, "relaxed")
    assert (strict.program_hash, strict.output_hash) == (relaxed.program_hash, relaxed.output_hash)
    with pytest.raises(MemoryVerificationError, match="cairo1 memory verification: .*not one program run"):
        compute_facts(proof, "cairo1")


def test_cairo1_proof_needs_cairo1_mode(docs):
    proof = parse_stone_proof(docs[RECURSIVE1])
    facts = compute_facts(proof, "cairo1")
    assert facts.output == (1,) and facts.output_hash == H([1])
    assert facts.program_length == 11
    with pytest.raises(MemoryVerificationError, match=r"strict memory verification: .*final_pc\) is 6, not 5"):
        compute_facts(proof, "strict")
    with pytest.raises(MemoryVerificationError, match="relaxed memory verification: .*address 12, found address 19"):
        compute_facts(proof, "relaxed")
    with pytest.raises(StoneProofError, match="unknown memory verification mode"):
        compute_facts(proof, "lenient")


def test_strict_checks_the_entry_stub_and_builtin_pointers(docs):
    doc = copy.deepcopy(docs[RECURSIVE0])
    doc["public_input"]["public_memory"][1]["value"] = "0x3"  # N_BUILTINS of 'recursive' is 4
    proof = parse_stone_proof(doc)
    with pytest.raises(MemoryVerificationError, match="N_BUILTINS of layout 'recursive'"):
        compute_facts(proof, "strict")
    compute_facts(proof, "relaxed")  # relaxed does not look at the stub

    doc = copy.deepcopy(docs[RECURSIVE0])
    doc["public_input"]["memory_segments"]["range_check"]["begin_addr"] += 1
    with pytest.raises(MemoryVerificationError, match="'range_check' pointer passed to main"):
        compute_facts(parse_stone_proof(doc), "strict")


def test_continuous_pages_are_refused(docs):
    doc = copy.deepcopy(docs[RECURSIVE0])
    doc["public_input"]["public_memory"][-1]["page"] = 1
    proof = parse_stone_proof(doc)
    for mode in ("strict", "relaxed", "cairo1"):
        with pytest.raises(MemoryVerificationError, match="continuous page"):
            compute_facts(proof, mode)


# ------------------------------------------------------------------ tampering


@pytest.mark.parametrize("name", list(CASES))
def test_tampered_output_changes_output_and_fact_hash(name, docs):
    mode = CASES[name][0]
    doc = copy.deepcopy(docs[name])
    original = compute_facts(parse_stone_proof(doc), mode)
    out_begin = doc["public_input"]["memory_segments"]["output"]["begin_addr"]
    cell = next(c for c in doc["public_input"]["public_memory"] if c["address"] == out_begin)
    cell["value"] = hex(int(cell["value"], 16) + 1)
    tampered = compute_facts(parse_stone_proof(doc), mode)
    assert tampered.program_hash == original.program_hash
    assert tampered.output_hash != original.output_hash
    assert tampered.fact_hash != original.fact_hash


def test_tampered_program_changes_program_and_fact_hash(docs):
    doc = copy.deepcopy(docs[RECURSIVE0])
    cell = next(c for c in doc["public_input"]["public_memory"] if c["address"] == 11)
    cell["value"] = "0x2"
    tampered = compute_facts(parse_stone_proof(doc))
    assert tampered.program_hash != PUBLISHED_RECURSIVE0["program_hash"]
    assert tampered.output_hash == PUBLISHED_RECURSIVE0["output_hash"]
    assert tampered.fact_hash != PUBLISHED_RECURSIVE0["fact_hash"]


# ------------------------------------------------------------------ verifier configuration


def test_verification_hash_only_with_stone_version(docs):
    proof = parse_stone_proof(docs[RECURSIVE0])
    facts = compute_facts(proof, "strict")
    assert facts.verifier_config_hash is None and facts.verification_hash is None
    assert facts.public_input_hash is None and facts.to_json()["verification_hash"] is None

    facts = compute_facts(proof, "strict", "stone5")
    config = H([short_string("recursive"), short_string("keccak_160_lsb"), short_string("stone5"),
                short_string("strict")])
    assert facts.verifier_config_hash == config == verifier_config_hash("recursive", "keccak_160_lsb", "stone5",
                                                                         "strict")
    assert facts.verification_hash == H([facts.fact_hash, config, 50])
    assert facts.verification_hash == verification_hash(facts.fact_hash, config, 50)
    out = facts.to_json()
    for key, value in PINNED[RECURSIVE0].items():
        assert out[key] == value
    # Same fact, other configuration: another verification.
    relaxed = compute_facts(proof, "relaxed", "stone5")
    assert relaxed.fact_hash == facts.fact_hash and relaxed.verification_hash != facts.verification_hash
    assert compute_facts(proof, "strict", "stone6").public_input_hash != facts.public_input_hash
    with pytest.raises(StoneProofError, match="unknown stone version"):
        compute_facts(proof, "strict", "stone7")


# ------------------------------------------------------------------ malformed input


def _broken(docs, edit):
    doc = copy.deepcopy(docs[RECURSIVE0])
    edit(doc)
    return doc


@pytest.mark.parametrize(("edit", "reason"), [
    (lambda d: d.pop("proof_parameters"), "missing field 'proof_parameters'"),
    (lambda d: d.pop("proof_hex"), "missing field 'proof_hex'"),
    (lambda d: d["public_input"].pop("public_memory"), "missing field 'public_memory'"),
    (lambda d: d["public_input"]["memory_segments"].pop("output"), "missing segment 'output'"),
    (lambda d: d["proof_parameters"]["stark"]["fri"].pop("n_queries"), "missing field 'n_queries'"),
    (lambda d: d["proof_parameters"]["stark"].__setitem__("log_n_cosets", "2"), "log_n_cosets: expected an integer"),
    (lambda d: d["public_input"].__setitem__("n_steps", 1000), "n_steps: must be a power of two"),
    (lambda d: d["public_input"].__setitem__("n_steps", True), "n_steps: expected an integer"),
    (lambda d: d["public_input"]["public_memory"][3].__setitem__("value", "zz"), r"public_memory\[3\].value"),
    (lambda d: d["public_input"]["public_memory"][3].__setitem__("value", "0xg1"), "not a hex number"),
    (lambda d: d["public_input"]["public_memory"][0].__setitem__("value", hex(P)), "not a field element"),
    (lambda d: d["public_input"]["public_memory"][0].pop("address"), "missing field 'address'"),
    (lambda d: d["public_input"].__setitem__("memory_segments", []), "memory_segments: expected an object"),
    (lambda d: d.__setitem__("public_input", None), "public_input: expected an object"),
])
def test_malformed_proofs_raise_stone_proof_error(docs, edit, reason):
    with pytest.raises(StoneProofError, match=reason):
        parse_stone_proof(_broken(docs, edit))


def test_malformed_files(tmp_path):
    with pytest.raises(StoneProofError, match="cannot read"):
        load_stone_proof(tmp_path / "absent.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"proof_parameters": ')
    with pytest.raises(StoneProofError, match="not valid JSON"):
        load_stone_proof(bad)
    bad.write_text("[1, 2, 3]")
    with pytest.raises(StoneProofError, match="proof: expected an object"):
        load_stone_proof(bad)


# ------------------------------------------------------------------ command line


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="zkp")
    stone_cmd.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return args.func(args)


def test_cli_prints_one_json_object(capsys):
    assert run_cli("stone-facts", str(PROOFS / RECURSIVE0)) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert out["program_hash"] == hex(PUBLISHED_RECURSIVE0["program_hash"])
    assert out["output_hash"] == hex(PUBLISHED_RECURSIVE0["output_hash"])
    assert out["fact_hash"] == hex(PUBLISHED_RECURSIVE0["fact_hash"])
    assert out["security_bits"] == 50 and out["layout"] == "recursive" and out["n_steps"] == 16384
    assert out["memory_verification"] == "strict" and out["fri_degree_equation_ok"] is True
    assert out["verification_hash"] is None and captured.err == ""

    assert run_cli("stone-facts", str(PROOFS / RECURSIVE1), "--memory-verification", "cairo1",
                   "--stone-version", "stone5") == 0
    out = json.loads(capsys.readouterr().out)
    assert out["fact_hash"] == PINNED[RECURSIVE1]["fact_hash"]
    assert out["verification_hash"] == PINNED[RECURSIVE1]["verification_hash"]
    assert out["memory_verification"] == "cairo1" and out["stone_version"] == "stone5"


def test_cli_errors_go_to_stderr_with_nonzero_exit(capsys, tmp_path):
    assert run_cli("stone-facts", str(PROOFS / RECURSIVE1)) != 0
    captured = capsys.readouterr()
    assert captured.out == "" and "strict memory verification" in captured.err and "final_pc" in captured.err

    missing = tmp_path / "nope.json"
    assert run_cli("stone-facts", str(missing)) != 0
    captured = capsys.readouterr()
    assert captured.out == "" and "nope.json" in captured.err
