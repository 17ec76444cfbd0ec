"""Security accounting, the parameter policy, the model label and parameter types: each attack is refused.

1. queries that share a first-layer FRI coset count once: the reported bits are the bits the proof has;
2. parameter sets outside the policy, or whose queries alone are too weak for grinding to count, are refused;
3. a model hash that is not the registered hash of its version label is reported and refused by ``zkp verify``;
4. non-integer parameters and statement numbers (floats, NaN, booleans) are refused, naming the field.
"""

from __future__ import annotations

import copy
import json
import random

import pytest
from fastapi.testclient import TestClient

from tests.test_cli import zkp as zkp_process
from zk_pipeline.felts import felt_hex
from zk_pipeline.risk.params import ModelParams, model_hash
from zk_pipeline.risk.registry import MODEL_VERSIONS
from zk_pipeline.risk.statement import Statement, StatementError
from zk_pipeline.circuits.allocation import ProofError, prove_statement, verify_statement
from zk_pipeline.stark import DEFAULT_PARAMS
from zk_pipeline.circuits.allocation.air import AllocationAir
from zk_pipeline.circuits.allocation.public import public_data
from zk_pipeline.stark.params import HARD_LIMITS_POLICY, SECURITY_POLICY, ParamsError, ProofParams
from zk_pipeline.stark.proof import Proof
from zk_pipeline.stark.prover import prove
from zk_pipeline.stark.transcript import Transcript
from zk_pipeline.stark.verifier import verify

from .helpers import STANDARD, random_statement
from .test_cli import zkp

PARAMS_OFFSET = 8 + 2 + 2 + len("zk-pipeline/allocation-air/v1")  # magic, version, air id length, air id


@pytest.fixture(scope="module")
def standard():
    return Statement.from_json(STANDARD.read_text())


@pytest.fixture(scope="module")
def standard_proof(standard):
    return prove_statement(standard, DEFAULT_PARAMS).proof_bytes


def first_layer_cosets(proof: Proof) -> int:
    """Leaves opened in the first FRI layer (one per distinct coset), read from the proof itself: each
    leaf holds k values, of which the proof omits the one per query the verifier computes."""
    sent, k = len(proof.fri.layers[0].values), proof.params.fri_folding_factor
    return (sent + proof.params.num_queries) // k


# -- 1. distinct cosets ---------------------------------------------------------------------------------
def test_standard_proof_opens_one_coset_per_query_and_reports_what_it_has(standard, standard_proof):
    assert first_layer_cosets(Proof.from_bytes(standard_proof)) == DEFAULT_PARAMS.num_queries == 40
    res = verify_statement(standard, standard_proof)
    assert res.valid, res.reason
    assert res.distinct_query_cosets == 40 and res.security_bits == 2 * 40 + 16


def test_folding_factor_16_still_opens_one_coset_per_query(standard):
    """With k = 16 the old position draw hit 36 cosets for 40 queries; the library draws distinct cosets."""
    params = ProofParams(blowup=4, num_queries=40, grinding_bits=16, fri_folding_factor=16)
    res = standard.evaluate()
    air = AllocationAir(public_data(standard), res)
    proof = prove(air, air.build_main_trace(res), params)
    assert first_layer_cosets(proof) == 40
    report = verify(AllocationAir(public_data(standard)), Proof.from_bytes(proof.to_bytes()),
                    policy=HARD_LIMITS_POLICY)
    assert report.distinct_query_cosets == 40 and report.bits == 96
    # ... and the project's policy refuses k = 16 anyway, with the reason
    out = verify_statement(standard, proof.to_bytes())
    assert not out.valid and "folding factor 16 is outside the policy" in out.reason


def test_query_draw_is_distinct_per_coset_and_covers_every_slot():
    bound, classes = 4096, 1024
    slots = set()
    for seed in range(200):
        q = Transcript(seed.to_bytes(4, "big")).draw_distinct_indices(40, bound, classes)
        assert len({p % classes for p in q}) == 40 and all(0 <= p < bound for p in q)
        slots |= {p // classes for p in q}
    assert slots == {0, 1, 2, 3}  # a position is uniform within its coset, not always its first point
    everything = Transcript(b"all").draw_distinct_indices(classes, bound, classes)
    assert sorted(p % classes for p in everything) == list(range(classes))
    with pytest.raises(ValueError):
        Transcript(b"x").draw_distinct_indices(classes + 1, bound, classes)


def test_shared_cosets_count_once():
    n_lde = 4096
    # The old standard proof opened 38 cosets: 2 * 38 + 16 = 92 by the bare formula, and its 76 query
    # bits are below the floor, so the policy counts 76. The example with 36 cosets: 72.
    assert SECURITY_POLICY.security_bits(DEFAULT_PARAMS, 38, n_lde) == 76
    assert SECURITY_POLICY.security_bits(DEFAULT_PARAMS, 36, n_lde) == 72
    assert SECURITY_POLICY.security_bits(DEFAULT_PARAMS, 40, n_lde) == DEFAULT_PARAMS.security_bits(n_lde) == 96


# -- 2. the policy --------------------------------------------------------------------------------------
def _with_params(proof_bytes: bytes, blowup: int, queries: int, grinding: int, folding: int) -> bytes:
    b = bytearray(proof_bytes)
    assert bytes(b[PARAMS_OFFSET:PARAMS_OFFSET + 4]) == DEFAULT_PARAMS.to_bytes()[:4]
    b[PARAMS_OFFSET:PARAMS_OFFSET + 4] = bytes([blowup, queries, grinding, folding])
    return bytes(b)


@pytest.mark.parametrize("params, words", [
    ((4, 32, 32, 4), "32 grinding bits exceed the policy's 20"),  # 96 by the bare formula, 64 from queries
    ((2, 64, 32, 4), "blowup 2 is outside the policy"),
    ((64, 16, 0, 4), "blowup 64 is outside the policy"),
    ((4, 32, 16, 4), "64 bits from queries) (grinding not counted"),
])
def test_parameter_sets_outside_the_policy_are_refused_with_the_reason(standard, standard_proof, params, words):
    res = verify_statement(standard, _with_params(standard_proof, *params))
    assert not res.valid and words in res.reason, res.reason
    if words.startswith("64 bits"):
        assert res.security_bits == 64


def test_weak_queries_with_grinding_are_counted_from_queries_only():
    """Blowup 4, 32 queries, 16 grinding bits: a real proof; 64 query bits, so 64 bits, never 80."""
    stmt = random_statement(31, window=16, util=4)
    art = prove_statement(stmt, ProofParams(blowup=4, num_queries=32, grinding_bits=16))
    assert art.security_bits == 64
    res = verify_statement(stmt, art.proof_bytes)
    assert not res.valid and res.security_bits == 64 and "grinding not counted" in res.reason
    ok = verify_statement(stmt, art.proof_bytes, min_security_bits=64)
    assert ok.valid and ok.security_bits == 64 and ok.distinct_query_cosets == 32


def test_prover_side_refuses_what_the_policy_refuses(standard, tmp_path, capsys):
    with pytest.raises(ProofError, match="grinding bits exceed"):
        prove_statement(standard, ProofParams(blowup=4, num_queries=32, grinding_bits=24))
    with pytest.raises(ParamsError, match="blowup 32 is outside"):
        SECURITY_POLICY.check(ProofParams(blowup=32, num_queries=20))
    assert zkp(["prove", "--input", str(STANDARD), "--out", str(tmp_path / "p"), "--folding-factor", "16"]) == 2
    assert "folding factor 16 is outside the policy" in capsys.readouterr().err


# -- 3. the model label ---------------------------------------------------------------------------------
def _relabelled(tmp_path, version: int, **changes) -> tuple:
    """The standard statement with changed parameters (and a matching hash), proven through the CLI."""
    d = json.loads(STANDARD.read_text())
    d["model"]["params"].update(changes)
    d["model"]["version"] = version
    d["model"]["model_hash"] = felt_hex(model_hash(version, ModelParams.from_dict(d["model"]["params"])))
    d.pop("outputs")
    src, full, proof = tmp_path / "in.json", tmp_path / "full.json", tmp_path / "proof.bin"
    src.write_text(json.dumps(d))
    assert zkp(["prove", "--input", str(src), "--out", str(proof), "--statement-out", str(full)]) == 0
    return full, proof


def test_a_hash_that_is_not_the_registered_hash_of_its_version_is_refused(standard, tmp_path, capsys):
    capsys.readouterr()
    full, proof = _relabelled(tmp_path, 1, max_single_bps=10_000, min_single_bps=0)
    stmt = Statement.from_json(full.read_text())
    registered = MODEL_VERSIONS[1]
    assert stmt.model_hash != registered.hash and stmt.registration()[0] is False
    capsys.readouterr()
    assert zkp(["verify", "--input", str(full), "--proof", str(proof), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["valid"] is False and out["model_registered"] is False
    assert out["model_hash"] == felt_hex(stmt.model_hash) and registered.hash_hex in out["reason"]
    assert "not the registered hash" in out["reason"] and out["security_bits"] == 96
    # Accepted only when asked, and then still marked.
    assert zkp(["verify", "--input", str(full), "--proof", str(proof), "--allow-unregistered-model"]) == 0
    text = capsys.readouterr().out
    assert "NOT REGISTERED" in text and felt_hex(stmt.model_hash) in text


def test_a_version_the_registry_does_not_know_is_unknown_not_registered(tmp_path, capsys):
    full, proof = _relabelled(tmp_path, 7)
    capsys.readouterr()
    assert zkp(["verify", "--input", str(full), "--proof", str(proof), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["valid"] is False and out["model_registered"] is None and "not in this registry" in out["reason"]
    assert zkp(["verify", "--input", str(full), "--proof", str(proof), "--json", "--allow-unregistered-model"]) == 0
    assert json.loads(capsys.readouterr().out)["valid"] is True


def test_api_verify_reports_the_model_hash_and_registration(db_url, standard, standard_proof, tmp_path):
    from api.main import create_app

    full, proof = _relabelled(tmp_path, 1, max_single_bps=10_000, min_single_bps=0)
    with TestClient(create_app(db_url)) as client:
        def post(proof_bytes: bytes, statement: bytes) -> dict:
            r = client.post("/api/v1/proofs/verify", files={"proof": ("p.bin", proof_bytes),
                                                            "statement": ("s.json", statement)})
            assert r.status_code == 200, r.text
            return r.json()

        good = post(standard_proof, STANDARD.read_bytes())
        assert good["valid"] and good["model_registered"] is True and good["distinct_query_cosets"] == 40
        assert good["model_hash"] == MODEL_VERSIONS[1].hash_hex and good["params"]["num_queries"] == 40
        relabelled = post(proof.read_bytes(), full.read_bytes())
        assert relabelled["model_registered"] is False and "not the registered hash" in relabelled["model_registration"]
        assert relabelled["model_hash"] != MODEL_VERSIONS[1].hash_hex


# -- 4. types ---------------------------------------------------------------------------------------------
def _mutated(path: str, value) -> dict:
    d = json.loads(STANDARD.read_text())
    *parents, last = path.split(".")
    cur = d
    for key in parents:
        cur = cur[int(key)] if isinstance(cur, list) else cur[key]
    cur[int(last) if isinstance(cur, list) else last] = value
    return d


TYPE_ATTACKS = [
    ("model.params.protocols.jediswap.launch_unix", 1668470400.0, "protocols.jediswap.launch_unix must be an integer"),
    ("model.params.protocols.jediswap.launch_unix", 1668470400.5, "protocols.jediswap.launch_unix must be an integer"),
    ("model.params.protocols.ekubo.audit_score", 90.0, "protocols.ekubo.audit_score must be an integer"),
    ("model.params.protocols.ekubo.audit_score", True, "protocols.ekubo.audit_score must be an integer"),
    ("model.params.protocols.ekubo.launch_unix", -1, "protocols.ekubo.launch_unix must be in 0.."),
    ("model.params.risk_min", True, "risk_min must be an integer, got True"),
    ("model.params.max_single_bps", 6000.0, "max_single_bps must be an integer"),
    ("model.params.liquidity_tier_risk.1", False, "liquidity_tier_risk[1] must be an integer"),
    ("model.params.liquidity_tier_thresholds", 5, "liquidity_tier_thresholds must be a list of 3 integers"),
    ("model.version", True, "model.version must be an integer"),
    ("protocols.ekubo.tvl", 3.0e12, "ekubo.tvl: expected an integer"),
    ("protocols.jediswap.prices.3", True, "jediswap.prices: expected an integer, got a boolean"),
    ("outputs.allocation.jediswap_bps", 6000.0, "outputs.allocation.jediswap_bps: expected an integer"),
    ("outputs.protocols.ekubo.risk", False, "outputs.protocols.ekubo.risk: expected an integer"),
]


@pytest.mark.parametrize("path, value, words", TYPE_ATTACKS, ids=[f"{p}={v!r}" for p, v, _ in TYPE_ATTACKS])
def test_non_integer_numbers_are_refused_naming_the_field(path, value, words):
    d = _mutated(path, value)
    with pytest.raises(StatementError) as err:
        Statement.from_dict(d)
    assert words in str(err.value)


@pytest.mark.parametrize("path", ["model.params.protocols.jediswap.launch_unix", "model.params.risk_max",
                                  "protocols.ekubo.tvl", "outputs.allocation.ekubo_bps"])
def test_nan_is_one_error_line_from_the_real_cli(tmp_path, path):
    d = _mutated(path, "__NAN__")
    src = tmp_path / "nan.json"
    src.write_text(json.dumps(d).replace('"__NAN__"', "NaN"))
    res = zkp_process("prove", "--input", str(src), "--out", str(tmp_path / "p.bin"))
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr[-800:]
    assert res.stderr.startswith("zkp: error:") and len(res.stderr.splitlines()) == 1
    assert path.split(".")[-1] in res.stderr and "nan" in res.stderr.lower()
    assert not (tmp_path / "p.bin").exists()


def test_model_params_refuse_non_integers_in_code_too():
    rng = random.Random(3)
    base = ModelParams()
    for name in ("weight_den", "age_cap_days", "risk_max", "min_single_bps"):
        for bad in (float(getattr(base, name)), True, "10", None, float("nan")):
            with pytest.raises(ValueError, match=name):
                ModelParams(**{**base.__dict__, name: bad})
    protocols = copy.deepcopy(base.protocols)
    protocols["jediswap"] = type(protocols["jediswap"])(audit_score=85, launch_unix=rng.random())
    with pytest.raises(ValueError, match="protocols.jediswap.launch_unix must be an integer"):
        ModelParams(**{**base.__dict__, "protocols": protocols})


# -- the FRI opening encoding (values the verifier knows are left out) ------------------------------
def test_fri_openings_leave_out_exactly_the_query_values(standard, standard_proof):
    proof = Proof.from_bytes(standard_proof)
    k = DEFAULT_PARAMS.fri_folding_factor
    # layer 0: 40 leaves of k values, the 40 query values omitted
    assert len(proof.fri.layers[0].values) == 40 * (k - 1)
    for layer in proof.fri.layers[1:]:  # fewer leaves once queries share later cosets
        assert 0 < len(layer.values) <= 40 * (k - 1)


@pytest.mark.parametrize("edit", [
    lambda vs: vs.pop(),                       # a missing value
    lambda vs: vs.append(vs[0]),               # an extra value
    lambda vs: vs.insert(0, vs.pop()),         # the right values in the wrong order
    lambda vs: vs.__setitem__(0, (vs[0] + 1) % (2**251 + 17 * 2**192 + 1)),
])
@pytest.mark.parametrize("layer", [0, -1])
def test_fri_opening_edits_are_rejected(standard, standard_proof, edit, layer):
    proof = Proof.from_bytes(standard_proof)
    values = proof.fri.layers[layer].values
    before = list(values)
    edit(values)
    assert values != before
    res = verify_statement(standard, proof.to_bytes())
    assert not res.valid and "FRI layer" in res.reason, res.reason


def test_a_query_value_sent_anyway_is_rejected(standard, standard_proof):
    """The old encoding (every value of the coset, the known one included) does not pass as the new one."""
    proof = Proof.from_bytes(standard_proof)
    proof.fri.layers[0].values.insert(0, 0)
    res = verify_statement(standard, proof.to_bytes())
    assert not res.valid and "wrong number of values" in res.reason


def test_version_1_proofs_are_refused_by_version(standard, standard_proof):
    b = bytearray(standard_proof)
    b[8:10] = (1).to_bytes(2, "big")
    res = verify_statement(standard, bytes(b))
    assert not res.valid and "unsupported proof format version 1" in res.reason
