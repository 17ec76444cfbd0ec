"""The integer risk model: the seed system's examples, properties and the model hash."""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from zk_pipeline.features.fixed_point import MAX_RAW_INPUT, RETURN_SCALE
from zk_pipeline.features.volatility import volatility_trace
from zk_pipeline.risk.model import ProtocolSeries, allocate, evaluate, risk_score, risk_terms
from zk_pipeline.risk.params import FELT_MASK, ModelParams, model_hash
from zk_pipeline.risk.registry import get_version

P = ModelParams()
bps = st.integers(min_value=0, max_value=10_000)
risk = st.integers(min_value=5, max_value=95)
apy = st.integers(min_value=0, max_value=10**9)


def test_seed_risk_example():
    assert risk_terms(500, 2000, 2, 85, 365, P) == {
        "utilization": 1, "volatility": 8, "liquidity": 15, "audit": 4, "age": 5, "raw": 33, "risk": 33}


def test_seed_allocation_example():
    a = allocate({"jediswap": 850, "ekubo": 1210}, {"jediswap": 33, "ekubo": 33}, P)
    assert (a.jediswap_bps, a.ekubo_bps) == (4126, 5874)


def test_risk_clamps_and_age_cap():
    assert risk_score(0, 0, 0, 100, 10_000) == 5  # raw 0 → floor 5
    assert risk_score(10_000, 10_000, 3, 0, 0) == 95  # raw 25+40+30+30+10 = 135 → cap 95
    assert risk_terms(0, 0, 0, 100, 729, P)["age"] == 0  # (730-729)*10//730
    assert risk_terms(0, 0, 0, 100, 0, P)["age"] == 10


def test_max_single_clamp_gives_rest_to_other():
    a = allocate({"jediswap": 5000, "ekubo": 10}, {"jediswap": 5, "ekubo": 95}, P)
    assert a.raw_jediswap_bps > 9000 and (a.jediswap_bps, a.ekubo_bps) == (6000, 4000)
    a = allocate({"jediswap": 0, "ekubo": 0}, {"jediswap": 5, "ekubo": 5}, P)
    assert (a.jediswap_bps, a.ekubo_bps) == (5000, 5000)


@given(apy, apy, risk, risk)
def test_allocation_sums_and_bounds(aj, ae, rj, re_):
    a = allocate({"jediswap": aj, "ekubo": ae}, {"jediswap": rj, "ekubo": re_}, P)
    assert a.jediswap_bps + a.ekubo_bps == 10_000
    for share in (a.jediswap_bps, a.ekubo_bps):
        assert P.min_single_bps <= share <= P.max_single_bps


@given(apy, apy, risk, risk, st.integers(min_value=1, max_value=90))
def test_lower_risk_never_gets_smaller_share(aj, ae, rj, re_, delta):
    """Lowering one protocol's risk, all else equal, never lowers its share."""
    base = allocate({"jediswap": aj, "ekubo": ae}, {"jediswap": rj, "ekubo": re_}, P)
    lower = max(5, rj - delta)
    better = allocate({"jediswap": aj, "ekubo": ae}, {"jediswap": lower, "ekubo": re_}, P)
    assert better.jediswap_bps >= base.jediswap_bps
    lower_e = max(5, re_ - delta)
    better_e = allocate({"jediswap": aj, "ekubo": ae}, {"jediswap": rj, "ekubo": lower_e}, P)
    assert better_e.ekubo_bps >= base.ekubo_bps


@given(bps, bps, st.integers(0, 3), st.integers(0, 100), st.integers(0, 5000), bps)
def test_higher_inputs_never_lower_risk(u, v, tier, audit, age, du):
    assert risk_score(min(10_000, u + du), v, tier, audit, age) >= risk_score(u, v, tier, audit, age)


small = ModelParams(volatility_window_hours=24, utilization_window_hours=6)
raw = st.integers(min_value=1, max_value=MAX_RAW_INPUT - 1)


@settings(max_examples=200, deadline=None)
@given(st.lists(raw, min_size=24, max_size=24), st.lists(st.integers(0, MAX_RAW_INPUT - 1), min_size=12, max_size=12),
       raw, st.integers(0, 2**40))
def test_every_intermediate_stays_below_2_128(prices, amounts, tvl, hour_unix):
    series = ProtocolSeries(tuple(prices), tuple(amounts[:6]), tuple(amounts[6:]), tvl)
    res = evaluate({"jediswap": series, "ekubo": series}, small, hour_unix)
    for r in res.protocols.values():
        vt = r.volatility
        values = [vt.sum_squares, abs(vt.sum_returns), vt.var_num, vt.radicand, vt.root,
                  r.volume_sum * 10_000, r.fees_sum * 365 * 10_000, *map(abs, vt.returns), *vt.remainders]
        assert all(x < 2**128 for x in values)
        assert all(-RETURN_SCALE <= x <= RETURN_SCALE for x in vt.returns)
    for s in res.allocation.scores.values():
        assert s * 10_000 < 2**128


def test_worst_case_volatility_window_is_below_2_128():
    """The bound in volatility.py's docstring, at the longest allowed window."""
    prices = [1, 2] * 4380  # every return hits the +100 % cap or -50 %
    vt = volatility_trace(prices[:8760])
    assert vt.radicand < 2**128


def test_model_hash_is_a_stable_felt_that_tracks_params():
    v1 = get_version(1)
    assert v1.hash == model_hash(1, ModelParams()) and 0 <= v1.hash <= FELT_MASK
    changed = dataclasses.replace(ModelParams(), max_single_bps=7000)
    assert model_hash(1, changed) != v1.hash
    assert model_hash(2, ModelParams()) != v1.hash
    assert ModelParams.from_dict(v1.params.to_dict()) == v1.params


def test_registration_ties_the_version_label_to_its_hash():
    from zk_pipeline.risk.registry import registration

    v1 = get_version(1)
    assert registration(1, v1.hash)[0] is True
    uncapped = dataclasses.replace(ModelParams(), max_single_bps=10_000, min_single_bps=0)
    ok, why = registration(1, model_hash(1, uncapped))
    assert ok is False and v1.hash_hex in why and "differ" in why
    ok, why = registration(99, model_hash(99, ModelParams()))
    assert ok is None and "not in this registry" in why
