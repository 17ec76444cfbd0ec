"""Integer features against a float reference (pandas/numpy) on real price data.

Stated tolerances: the model's fixed-point volatility is within 1 bp of the
float value (its returns are floored to 1e-8); the exact volatility of
``zkp features`` equals ``floor(float)`` except within 1e-6 bp of an integer;
utilization and APY are exact floors of the float ratios.
"""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from tests.data import PRICES
from zk_pipeline.features.fixed_point import PRICE_SCALE, to_fixed
from zk_pipeline.features.reference_volatility import exact_volatility_annualized_bps
from zk_pipeline.features.utilization import apy_bps, utilization_bps
from zk_pipeline.features.volatility import volatility_annualized_bps
from zk_pipeline.sources.replay import ReplaySource


def float_vol_bps(prices) -> float:
    p = np.asarray(prices, dtype=float)
    r = p[1:] / p[:-1] - 1.0
    return float(np.std(r) * math.sqrt(8760) * 10_000)  # np.std is the population std


def binance_closes() -> pd.Series:
    raw = pd.read_csv(PRICES / "binance_btcusdt_1h.csv.gz")
    unix = raw["unix"].astype(float)
    raw["ts"] = np.where(unix > 1e11, unix / 1000, unix)
    return raw.sort_values("ts").drop_duplicates("ts")["close"].astype(str)


@pytest.mark.parametrize("start", range(0, 32000, 2000))
def test_volatility_matches_float_on_binance_windows(start):
    closes = binance_closes().iloc[start:start + 720]
    dec = [Decimal(c) for c in closes]
    ref = float_vol_bps([float(c) for c in closes])
    model = volatility_annualized_bps([to_fixed(c, PRICE_SCALE) for c in dec])
    assert abs(model - ref) <= 1.0, (model, ref)
    exact = exact_volatility_annualized_bps(dec)
    if abs(ref - round(ref)) > 1e-6:
        assert exact == math.floor(ref)


def test_volatility_matches_float_on_replay_dataset():
    df = ReplaySource().frame()
    for protocol, g in df.groupby("protocol"):
        prices = g.sort_values("hour")["price"].to_numpy()
        for start in range(0, len(prices) - 720, 360):
            window = prices[start:start + 720]
            model = volatility_annualized_bps([to_fixed(repr(float(x)), PRICE_SCALE) for x in window])
            assert abs(model - float_vol_bps(window)) <= 1.0, protocol


def test_constant_prices_have_zero_volatility():
    assert volatility_annualized_bps([10**8] * 50) == 0
    assert exact_volatility_annualized_bps([Decimal(1)] * 50) == 0


def test_utilization_and_apy_are_floors_of_the_ratios():
    df = ReplaySource().frame()
    for protocol, g in df.groupby("protocol"):
        g = g.sort_values("hour")
        for end in range(24, len(g), 97):
            day = g.iloc[end - 24:end]
            v = sum(to_fixed(x, 10**6) for x in day["volume_usd"].astype(str))
            f = sum(to_fixed(x, 10**6) for x in day["fees_usd"].astype(str))
            tvl = to_fixed(str(day["tvl_usd"].iloc[-1]), 10**6)
            assert utilization_bps(v, tvl) == min(10_000, math.floor(v * 10_000 / tvl))
            assert apy_bps(f, tvl) == (f * 365 * 10_000) // tvl
            ref_apy = day["fees_usd"].sum() * 365 * 10_000 / day["tvl_usd"].iloc[-1]
            assert abs(apy_bps(f, tvl) - ref_apy) <= 1.0


def test_utilization_is_capped():
    assert utilization_bps(10**12, 10**6) == 10_000
    with pytest.raises(ValueError):
        utilization_bps(1, 0)
