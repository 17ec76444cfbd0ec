"""The built-in facts, recomputed from their documented derivation alone.

README.md ("Proofs and facts") and the docstring of ``zk_pipeline/facts/builtin.py``:

    program_hash      = poseidon_many([short("zk-pipeline/allocation"), air_id, model_hash])
    air_id            = SHA-256(AIR_ID) & (2^250 - 1), AIR_ID = "zk-pipeline/allocation-air/v1"
    output_hash       = poseidon_many([hour_unix, inputs_commitment,
                                       per protocol (jediswap, ekubo): volatility_annualized_bps, volatility_bps,
                                       utilization_bps, apy_bps, liquidity_tier, age_days, risk,
                                       jediswap_bps, ekubo_bps])
    inputs_commitment = SHA-256(canonical JSON of {"hour", "protocols"}) & (2^250 - 1)
    fact_hash         = poseidon_many([program_hash, output_hash])
    verification_hash = poseidon_many([fact_hash, poseidon_many([short("zkp-builtin-stark"), air_id]), security_bits])

Everything here works on the statement's JSON as a verifier would receive it,
with starknet-py's Poseidon (``poseidon_many`` = Cairo's ``poseidon_hash_span``)
and nothing from ``zk_pipeline.facts``; only ``compute_facts`` is called, to be
compared. "Canonical JSON" is taken as the statement hash's: sorted keys, no
whitespace.
"""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import datetime
from pathlib import Path

import pytest
from starknet_py.hash.hash_method import HashMethod

from zk_pipeline.facts.builtin import compute_facts
from zk_pipeline.risk.statement import Statement, StatementError

STANDARD = Path(__file__).resolve().parents[1] / "examples" / "standard_statement.json"
MASK_250 = 2**250 - 1
AIR_ID = "zk-pipeline/allocation-air/v1"  # as README.md states it
PROTOCOLS = ("jediswap", "ekubo")
PROTOCOL_OUTPUTS = ("volatility_annualized_bps", "volatility_bps", "utilization_bps", "apy_bps",
                    "liquidity_tier", "age_days", "risk")

poseidon_many = HashMethod.POSEIDON.hash_many  # starknet-py: poseidon_py's sponge, Cairo's poseidon_hash_span
poseidon_pair = HashMethod.POSEIDON.hash  # the two-input poseidon_hash(x, y): NOT what facts use


def short(text: str) -> int:
    """A Cairo short string: its ASCII bytes as one big-endian felt."""
    assert len(text) <= 31 and text.isascii()
    return int.from_bytes(text.encode("ascii"), "big")


def sha_felt(data: bytes) -> int:
    return int.from_bytes(hashlib.sha256(data).digest(), "big") & MASK_250


def documented_facts(raw: dict, security_bits: int, model_hash: int | None = None) -> dict[str, int]:
    """The four hashes from the statement JSON, by the documented derivation."""
    air_id = sha_felt(AIR_ID.encode())
    if model_hash is None:
        model_hash = int(raw["model"]["model_hash"], 16)
    program = poseidon_many([short("zk-pipeline/allocation"), air_id, model_hash])
    hour_unix = int(datetime.fromisoformat(raw["hour"].replace("Z", "+00:00")).timestamp())
    commitment = sha_felt(json.dumps({"hour": raw["hour"], "protocols": raw["protocols"]},
                                     sort_keys=True, separators=(",", ":")).encode())
    outputs = raw["outputs"]
    felts = [hour_unix, commitment]
    for name in PROTOCOLS:
        felts += [outputs["protocols"][name][k] for k in PROTOCOL_OUTPUTS]
    felts += [outputs["allocation"]["jediswap_bps"], outputs["allocation"]["ekubo_bps"]]
    output = poseidon_many(felts)
    fact = poseidon_many([program, output])
    config = poseidon_many([short("zkp-builtin-stark"), air_id])
    return {"program_hash": program, "output_hash": output, "fact_hash": fact,
            "verification_hash": poseidon_many([fact, config, security_bits])}


def module_facts(statement: Statement, security_bits: int) -> dict[str, int]:
    f = compute_facts(statement, security_bits)
    assert f.security_bits == security_bits
    return {"program_hash": f.program_hash, "output_hash": f.output_hash, "fact_hash": f.fact_hash,
            "verification_hash": f.verification_hash}


@pytest.fixture(scope="module")
def raw() -> dict:
    return json.loads(STANDARD.read_text())


def load(raw: dict) -> Statement:
    return Statement.from_json(json.dumps(raw))


def changed(before: dict[str, int], after: dict[str, int]) -> set[str]:
    return {k for k in before if before[k] != after[k]}


@pytest.mark.parametrize("security_bits", [96, 128])
def test_standard_statement_matches_the_documented_derivation(raw, security_bits):
    statement = Statement.from_json(STANDARD.read_text())
    assert statement.outputs is not None  # the example carries its claimed outputs
    expected = documented_facts(raw, security_bits)
    assert module_facts(statement, security_bits) == expected
    assert compute_facts(statement, security_bits).to_json() == {
        **{k: hex(v) for k, v in expected.items()}, "security_bits": security_bits}
    # The AIR id the README names is the prover's, and the model hash is the statement's own.
    from zk_pipeline.circuits.allocation.air import AIR_ID as prover_air_id

    assert prover_air_id == AIR_ID
    assert statement.model_hash == int(raw["model"]["model_hash"], 16)
    # The fact is the sponge over [program, output], not the two-input Poseidon of them.
    assert expected["fact_hash"] != poseidon_pair(expected["program_hash"], expected["output_hash"])
    assert all(0 < v < 2**252 for v in expected.values())


@pytest.mark.parametrize("where", [("jediswap", 0), ("ekubo", -1), ("ekubo", 359)])
def test_one_unit_in_a_price_changes_the_output_hash_and_the_fact(raw, where):
    name, index = where
    base = module_facts(load(raw), 96)
    other = copy.deepcopy(raw)
    other["protocols"][name]["prices"][index] += 1  # claimed outputs kept: only the inputs commitment moves
    facts = module_facts(load(other), 96)
    assert facts == documented_facts(other, 96)
    assert changed(base, facts) == {"output_hash", "fact_hash", "verification_hash"}


@pytest.mark.parametrize("field", [("jediswap", "risk"), ("ekubo", "apy_bps"), ("ekubo", "age_days"),
                                   ("allocation", "jediswap_bps"), ("allocation", "ekubo_bps")])
def test_one_unit_in_a_claimed_output_changes_the_output_hash_and_the_fact(raw, field):
    group, key = field
    base = module_facts(load(raw), 96)
    other = copy.deepcopy(raw)
    target = other["outputs"]["allocation"] if group == "allocation" else other["outputs"]["protocols"][group]
    target[key] += 1
    facts = module_facts(load(other), 96)
    assert facts == documented_facts(other, 96)
    assert changed(base, facts) == {"output_hash", "fact_hash", "verification_hash"}


def test_a_different_model_hash_changes_the_program_hash_and_the_fact(raw):
    base = module_facts(load(raw), 96)
    model_hash = int(raw["model"]["model_hash"], 16)

    # The model hash itself one unit off: the statement cannot claim it (it must match the params) ...
    lying = copy.deepcopy(raw)
    lying["model"]["model_hash"] = hex(model_hash + 1)
    with pytest.raises(StatementError, match="model_hash does not match"):
        load(lying)

    # ... and when it does differ, the program hash (only) follows it.
    class OtherModel(Statement):
        @property
        def model_hash(self) -> int:
            return model_hash + 1

    standard = load(raw)
    other = OtherModel(standard.hour, standard.version, standard.params, standard.series, standard.outputs)
    facts = module_facts(other, 96)
    assert facts == documented_facts(raw, 96, model_hash=model_hash + 1)
    assert changed(base, facts) == {"program_hash", "fact_hash", "verification_hash"}

    # One unit in a model parameter: a new model hash, so a new program; the outputs (claimed) stay.
    reweighted = copy.deepcopy(raw)
    reweighted["model"]["params"]["age_weight"] += 1
    del reweighted["model"]["model_hash"]
    statement = load(reweighted)
    assert statement.model_hash != model_hash
    facts = module_facts(statement, 96)
    assert facts == documented_facts(reweighted, 96, model_hash=statement.model_hash)
    assert changed(base, facts) == {"program_hash", "fact_hash", "verification_hash"}


@pytest.mark.parametrize("security_bits", [95, 97, 100, 128])
def test_security_bits_change_only_the_verification_hash(raw, security_bits):
    statement = load(raw)
    base = module_facts(statement, 96)
    facts = module_facts(statement, security_bits)
    assert facts == documented_facts(raw, security_bits)
    assert changed(base, facts) == {"verification_hash"}
