"""Exact annualized volatility of a price series, for ``zkp features``.

The model's volatility (``volatility.py``) works on 8-decimal fixed-point
returns so that it can be proven; this module computes the *standard* figure
exactly, with rational arithmetic on the prices as written: the population
standard deviation of the simple returns ``p_i / p_{i-1} - 1`` times
``sqrt(8760)``, in basis points, rounded down. With returns ``a_i / b_i`` as
fractions, the variance is a fraction ``N / D`` and
``floor(sqrt(N * 8760 * 10**8 / D)) = isqrt(N * 8760 * 10**8 * D) // D``.
"""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

from zk_pipeline.features.volatility import HOURS_PER_YEAR


def exact_volatility_annualized_bps(prices: list[Decimal]) -> int:
    if len(prices) < 2:
        raise ValueError("volatility needs at least two prices")
    rets = [Fraction(cur) / Fraction(prev) - 1 for prev, cur in zip(prices, prices[1:])]
    m = len(rets)
    mean = sum(rets, Fraction(0)) / m
    var = sum(((r - mean) ** 2 for r in rets), Fraction(0)) / m
    scaled = var * HOURS_PER_YEAR * 10**8
    return math.isqrt(scaled.numerator * scaled.denominator) // scaled.denominator
