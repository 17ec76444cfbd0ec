"""Every tampered proof, every changed public input and every dishonest prover is rejected."""

import dataclasses
import json
import random

import pytest

from zk_pipeline.risk.statement import Statement
from zk_pipeline.circuits.allocation import ProofError, prove_statement, verify_statement
from zk_pipeline.stark import DEFAULT_PARAMS
from zk_pipeline.circuits.allocation.air import AllocationAir
from zk_pipeline.circuits.allocation.public import PublicData, public_data
from zk_pipeline.stark.params import ProofParams
from zk_pipeline.stark.proof import Proof
from zk_pipeline.stark.prover import prove

from .helpers import FAST, random_statement


@pytest.fixture(scope="module")
def stmt():
    return random_statement(11, window=16, util=4, wild=True)


@pytest.fixture(scope="module")
def valid(stmt):
    """A proof at the default (96-bit) parameters."""
    art = prove_statement(stmt, DEFAULT_PARAMS)
    assert art.security_bits >= 96
    return art.proof_bytes


def test_valid_proof_verifies(stmt, valid):
    res = verify_statement(stmt, valid)
    assert res.valid, res.reason
    assert res.security_bits == 96 and res.proof_bytes == len(valid)


def test_proving_is_deterministic(stmt, valid):
    assert prove_statement(stmt, DEFAULT_PARAMS).proof_bytes == valid


def _flip(data: bytes, pos: int, rng: random.Random) -> bytes:
    b = bytearray(data)
    b[pos] ^= rng.randrange(1, 256)
    return bytes(b)


def test_single_byte_flips_in_every_section_are_rejected(stmt, valid):
    rng = random.Random(1)
    spans = Proof.layout(valid)
    names = {s[0] for s in spans}
    assert {"trace commitments", "ood values", "fri commitments", "fri remainder", "pow nonce", "main opening",
            "aux opening", "composition opening", "fri layer 0 opening"} <= names
    tried = 0
    for name, start, end in spans:
        picks = {start, end - 1} | {rng.randrange(start, end) for _ in range(3)}
        for pos in sorted(picks):
            res = verify_statement(stmt, _flip(valid, pos, rng))
            assert not res.valid, f"flip at {pos} ({name}) accepted"
            assert res.reason
            tried += 1
    assert tried >= 40


def test_field_element_substitutions_are_rejected(stmt, valid):
    rng = random.Random(2)
    base = Proof.from_bytes(valid)

    def rejected(mutate) -> None:
        p = Proof.from_bytes(valid)
        mutate(p)
        res = verify_statement(stmt, p.to_bytes())
        assert not res.valid

    for _ in range(3):
        i = rng.randrange(len(base.ood))
        rejected(lambda p: p.ood.__setitem__(i, (p.ood[i] + 1) % (2**251 + 17 * 2**192 + 1)))
    rejected(lambda p: p.fri.remainder.__setitem__(0, p.fri.remainder[0] ^ 1))
    rejected(lambda p: p.main_open.rows[0].__setitem__(5, p.main_open.rows[0][5] ^ 1))
    rejected(lambda p: p.aux_open.rows[-1].__setitem__(0, p.aux_open.rows[-1][0] ^ 1))
    rejected(lambda p: p.comp_open.rows[1].__setitem__(0, p.comp_open.rows[1][0] ^ 1))
    rejected(lambda p: p.fri.layers[-1].values.__setitem__(1, p.fri.layers[-1].values[1] ^ 1))
    rejected(lambda p: p.fri.layers[0].values.__setitem__(-1, p.fri.layers[0].values[-1] ^ 1))
    rejected(lambda p: p.main_open.auth.__setitem__(3, bytes(32)))
    rejected(lambda p: p.fri.layers[0].auth.pop())
    rejected(lambda p: setattr(p, "nonce", p.nonce + 1))
    rejected(lambda p: p.fri.roots.__setitem__(0, bytes(32)))
    rejected(lambda p: setattr(p, "main_root", p.aux_root))


def _with_outputs(stmt, edit) -> Statement:
    out = json.loads(json.dumps(stmt.outputs))
    edit(out)
    return Statement(stmt.hour, stmt.version, stmt.params, stmt.series, out)


def test_changed_public_inputs_are_rejected(stmt, valid):
    # one price changed by one unit (claimed outputs recomputed: the model may not even notice)
    s = stmt.series["ekubo"]
    prices = list(s.prices)
    prices[5] += 1
    moved = Statement(stmt.hour, stmt.version, stmt.params,
                      {**stmt.series, "ekubo": type(s)(tuple(prices), s.volumes, s.fees, s.tvl)}).with_outputs()
    assert not verify_statement(moved, valid).valid
    # a different model hash (same parameters, another version number)
    other = Statement(stmt.hour, 2, stmt.params, stmt.series, stmt.outputs)
    assert other.model_hash != stmt.model_hash
    assert not verify_statement(other, valid).valid
    # a claimed allocation off by one basis point
    def bump(out):
        out["allocation"]["jediswap_bps"] += 1
        out["allocation"]["ekubo_bps"] -= 1

    res = verify_statement(_with_outputs(stmt, bump), valid)
    assert not res.valid
    # another hour, another volume
    assert not verify_statement(Statement(stmt.hour.replace(hour=1), 1, stmt.params, stmt.series).with_outputs(),
                                valid).valid
    # a statement without claimed outputs cannot be verified
    assert "no claimed outputs" in verify_statement(
        Statement(stmt.hour, stmt.version, stmt.params, stmt.series), valid).reason


def test_dishonest_prover_wrong_intermediate_is_rejected(stmt):
    res = stmt.evaluate()
    # 1. claim volatility + 1 and push the honest-looking witness through without the self-check
    def plus_one(out):
        out["protocols"]["jediswap"]["volatility_annualized_bps"] += 1

    lie = _with_outputs(stmt, plus_one)
    with pytest.raises(ProofError):
        prove_statement(lie, FAST)
    air = AllocationAir(public_data(lie), res)
    proof = prove(air, air.build_main_trace(res), FAST, self_check=False)
    assert not verify_statement(lie, proof.to_bytes(), min_security_bits=0).valid
    # 2. honest outputs, one return in the trace off by one (and the sums made consistent with it)
    air = AllocationAir(public_data(stmt), res)
    trace = air.build_main_trace(res)
    trace[0, 3] += 1  # lane 0, column r, row 3
    for row in range(4, air.m + 1):
        trace[2, row] += 1  # s1 follows the forged return
    proof = prove(air, trace, FAST, self_check=False)
    res2 = verify_statement(stmt, proof.to_bytes(), min_security_bits=0)
    assert not res2.valid and "out-of-domain" in res2.reason


def test_dishonest_prover_volatility_root_plus_one(stmt):
    """The tail's isqrt root + 1, with its byte limbs and LogUp multiplicities kept consistent."""
    from zk_pipeline.circuits.allocation.layout import MULT, SA, SLOT_LIMB0, col, limb_cols
    from zk_pipeline.stark.logup import multiplicities

    res = stmt.evaluate()
    air = AllocationAir(public_data(stmt), res)
    trace = air.build_main_trace(res)
    row, c = air.m, col(0, SA)  # the first big slot of the tail holds jediswap's root
    assert trace[c, row] == res.protocols["jediswap"].volatility.root
    forged = int(trace[c, row]) + 1
    trace[c, row] = forged
    for j in range(8):
        trace[col(0, SLOT_LIMB0[0] + j), row] = (forged >> (8 * j)) & 0xFF
    trace[MULT] = multiplicities(trace[limb_cols()], air.trace_length)
    main_failures = air.check_trace(trace, air.build_aux_trace(trace, [99991]), [99991])
    assert main_failures and all("row constraint" in f for f in main_failures)  # only the isqrt breaks
    proof = prove(air, trace, FAST, self_check=False)
    res2 = verify_statement(stmt, proof.to_bytes(), min_security_bits=0)
    assert not res2.valid and "out-of-domain" in res2.reason


def test_low_security_parameters_are_refused(stmt):
    """20 queries at blowup 4 give 40 query bits, below the 80-bit floor: the 8 grinding bits do not count."""
    weak = ProofParams(blowup=4, num_queries=20, grinding_bits=8)
    art = prove_statement(stmt, weak)
    assert art.security_bits == 40
    res = verify_statement(stmt, art.proof_bytes)
    assert not res.valid and "grinding not counted" in res.reason and res.security_bits == 40
    assert not verify_statement(stmt, art.proof_bytes, min_security_bits=41).valid
    ok = verify_statement(stmt, art.proof_bytes, min_security_bits=40)
    assert ok.valid and ok.security_bits == 40 and ok.distinct_query_cosets == 20


def test_a_statement_the_model_refuses_is_never_verified_even_with_a_matching_proof():
    """A zero price (built in code, past ``Statement.from_dict``'s checks) and a proof made for it."""
    base = random_statement(5, window=16, util=4)
    s = base.series["jediswap"]
    k = next(i for i in range(1, 14) if s.prices[i - 1] > 10**8)
    p1, p0 = list(s.prices), list(s.prices)
    p1[k], p0[k] = 1, 0
    twin = Statement(base.hour, 1, base.params,
                     {**base.series, "jediswap": dataclasses.replace(s, prices=tuple(p1))}).with_outputs()
    res = twin.evaluate()
    pr = res.protocols["jediswap"]
    rems = list(pr.volatility.remainders)
    rems[k - 1] = 0  # with cur = 0: (0 - prev) * S = -S * prev + 0, the capped branch's "return"
    res = dataclasses.replace(res, protocols={**res.protocols, "jediswap": dataclasses.replace(
        pr, volatility=dataclasses.replace(pr.volatility, remainders=tuple(rems)))})
    bad = Statement(base.hour, 1, base.params,
                    {**base.series, "jediswap": dataclasses.replace(s, prices=tuple(p0))}, twin.outputs)
    with pytest.raises(ValueError):
        bad.evaluate()
    with pytest.raises(ValueError, match="prices must be in 1"):
        public_data(bad)
    # The proof a dishonest prover would make for it (with the checks of public_data skipped).
    pd = PublicData(**{**public_data(twin).__dict__, "canonical": bad.canonical_bytes(),
                       "prices": tuple(bad.series[n].prices for n in ("jediswap", "ekubo"))})
    air = AllocationAir(pd, res)
    proof = prove(air, air.build_main_trace(res), FAST, self_check=False)
    out = verify_statement(bad, proof.to_bytes(), min_security_bits=0)
    assert not out.valid and "prices must be in 1" in out.reason


def test_a_statement_with_a_short_tier_table_is_refused_not_crashed(stmt, valid):
    from zk_pipeline.risk.params import ModelParams

    with pytest.raises(ValueError, match="liquidity_tier_risk must be a list of 4 integers"):
        ModelParams(liquidity_tier_risk=(0, 5, 15))
    broken = dataclasses.replace(stmt.params)
    object.__setattr__(broken, "liquidity_tier_risk", (0, 5, 15))  # past __post_init__, as hostile code could
    out = verify_statement(dataclasses.replace(stmt, params=broken), valid)
    assert not out.valid and out.reason.startswith("statement not verifiable")


def test_claimed_outputs_with_an_extra_key_are_refused(stmt, valid):
    outputs = json.loads(json.dumps(stmt.outputs))
    outputs["allocation"]["note"] = "approved by the risk committee"
    res = verify_statement(dataclasses.replace(stmt, outputs=outputs), valid)
    assert not res.valid and "unexpected: ['note']" in res.reason
    with pytest.raises(ProofError, match="unexpected"):
        prove_statement(dataclasses.replace(stmt, outputs=outputs), FAST)
