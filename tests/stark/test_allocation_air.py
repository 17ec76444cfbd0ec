"""The AIR against the Python model: same integers on random and on real series."""

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zk_pipeline.risk.model import ALLOCATION_ORDER, ProtocolSeries
from zk_pipeline.risk.statement import Statement
from zk_pipeline.circuits.allocation.air import AllocationAir
from zk_pipeline.circuits.allocation.public import StatementNotSupported, public_data
from zk_pipeline.stark.logup import TABLE_SIZE

from .helpers import STANDARD, random_statement, replay_rows, replay_statement, small_params

P = 2**251 + 17 * 2**192 + 1


def air_accepts(statement) -> list[str]:
    """Build the witness from the model's trace objects and evaluate every AIR constraint on it."""
    res = statement.evaluate()
    air = AllocationAir(public_data(statement), res)
    main = air.build_main_trace(res)
    alpha = 0xC0FFEE  # any challenge: the LogUp identity must hold for all of them
    aux = air.build_aux_trace(main, [alpha])
    return air.check_trace(main, aux, [alpha])


def perturbed(statement, path: tuple, delta: int) -> Statement:
    out = json.loads(json.dumps(statement.outputs))
    cur = out
    for k in path[:-1]:
        cur = cur[k]
    cur[path[-1]] += delta
    return Statement(statement.hour, statement.version, statement.params, statement.series, out)


OUTPUT_PATHS = [("protocols", n, k) for n in ALLOCATION_ORDER for k in (
    "volatility_annualized_bps", "volatility_bps", "utilization_bps", "apy_bps", "liquidity_tier", "age_days",
    "risk")] + [("allocation", "jediswap_bps"), ("allocation", "ekubo_bps")]


def air_rejects_output(statement, path, delta) -> bool:
    """The honest witness does not satisfy the AIR when one claimed output is moved."""
    bad = perturbed(statement, path, delta)
    try:
        pd = public_data(bad)
    except StatementNotSupported:
        return True  # e.g. tier 4 or a negative value: refused before any proof
    res = statement.evaluate()
    air = AllocationAir(pd, res)
    main = air.build_main_trace(res)
    aux = air.build_aux_trace(main, [0xC0FFEE])
    return bool(air.check_trace(main, aux, [0xC0FFEE]))


def _series_strategy(window: int, util: int):
    price = st.integers(1, 2**63 - 1)
    small_price = st.integers(10**6, 10**13)
    amount = st.one_of(st.just(0), st.integers(0, 10**15), st.integers(0, 2**63 - 1))
    return st.builds(
        ProtocolSeries,
        prices=st.lists(st.one_of(small_price, price), min_size=window, max_size=window).map(tuple),
        volumes=st.lists(amount, min_size=util, max_size=util).map(tuple),
        fees=st.lists(amount, min_size=util, max_size=util).map(tuple),
        tvl=st.one_of(st.integers(1, 10**6), st.integers(1, 2**63 - 1), st.integers(10**11, 10**14)),
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), window=st.sampled_from([3, 4, 9, 16]), util=st.sampled_from([1, 2, 3]),
       hour=st.integers(1_500_000_000 // 3600, 1_800_000_000 // 3600))
def test_model_and_air_agree_on_random_series(data, window, util, hour):
    from datetime import datetime, timezone

    params = small_params(window, util)
    series = {n: data.draw(_series_strategy(window, util)) for n in ALLOCATION_ORDER}
    stmt = Statement(datetime.fromtimestamp(hour * 3600, tz=timezone.utc), 1, params, series).with_outputs()
    assert air_accepts(stmt) == []
    path = data.draw(st.sampled_from(OUTPUT_PATHS))
    assert air_rejects_output(stmt, path, data.draw(st.sampled_from([1, -1])))


@pytest.mark.parametrize("seed", range(6))
def test_model_and_air_agree_on_wild_series(seed):
    stmt = random_statement(seed, window=24, util=6, wild=True)
    assert air_accepts(stmt) == []
    for path in OUTPUT_PATHS:
        assert air_rejects_output(stmt, path, 1), path


def test_model_parameters_other_than_v1():
    params = small_params(16, 4, risk_min=30, risk_max=31, age_cap_days=10, max_single_bps=9000,
                          min_single_bps=0, utilization_weight=5000, liquidity_tier_thresholds=(10**18, 10**12, 1))
    for seed in range(4):
        stmt = random_statement(seed, params=params)
        assert air_accepts(stmt) == []
    huge = small_params(16, 4, weight_den=2**40)
    with pytest.raises(StatementNotSupported):
        public_data(random_statement(0, params=huge))


def test_model_and_air_agree_on_replay_windows():
    rows = replay_rows()
    for end in (32, 500, 1000, 1700, 2160):
        stmt = replay_statement(end, window=32, util=4, rows=rows)
        assert air_accepts(stmt) == []


def test_model_and_air_agree_on_the_standard_statement():
    stmt = Statement.from_json(STANDARD.read_text())
    assert stmt.outputs == stmt.evaluate().summary()
    assert air_accepts(stmt) == []
    for path in [("protocols", "jediswap", "volatility_annualized_bps"), ("allocation", "jediswap_bps"),
                 ("protocols", "ekubo", "risk")]:
        assert air_rejects_output(stmt, path, 1)


def test_trace_shape_and_cap_branches():
    # a price that jumps 10x inside the window exercises the return cap (b = 1)
    stmt = random_statement(1, window=16, util=4, wild=True)
    res = stmt.evaluate()
    air = AllocationAir(public_data(stmt), res)
    assert air.trace_length >= TABLE_SIZE and air.trace_length & (air.trace_length - 1) == 0
    main = air.build_main_trace(res)
    assert main.shape == (air.main_width, air.trace_length)
    from zk_pipeline.circuits.allocation.layout import limb_cols
    assert all(0 <= int(v) < 256 for v in np.ravel(main[limb_cols()]))
