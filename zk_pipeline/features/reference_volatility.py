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
from decimal import Decimal, localcontext
from fractions import Fraction

from zk_pipeline.features.volatility import HOURS_PER_YEAR


#: Working precision (significant digits) and the margin inside which the fast result is not trusted.
PRECISION = 160
MARGIN = Decimal(10) ** -30


def exact_volatility_annualized_bps(prices: list[Decimal]) -> int:
    """``floor(sqrt(var(returns) * 8760) * 10^4)``, exactly.

    Rational arithmetic is exact but its denominators grow with every
    distinct price (a year of hourly 6-decimal prices took minutes). So the
    value is computed with 160 significant digits, where every rounding error
    is below ``10^-45`` in the result for prices the model takes, and taken as
    exact unless it falls within ``10^-30`` of an integer; only then (constant
    series, contrived inputs) the rational computation decides.
    """
    if len(prices) < 2:
        raise ValueError("volatility needs at least two prices")
    with localcontext() as ctx:
        ctx.prec = PRECISION
        ctx.Emax, ctx.Emin = 10**6, -(10**6)
        rets = [cur / prev - 1 for prev, cur in zip(prices, prices[1:])]
        m = len(rets)
        mean = sum(rets, Decimal(0)) / m
        var = sum(((r - mean) ** 2 for r in rets), Decimal(0)) / m
        x = (var * HOURS_PER_YEAR * 10**8).sqrt()
        floor = int(x)
        if x - floor > MARGIN and floor + 1 - x > MARGIN:
            return floor
    return _rational_volatility_annualized_bps(prices)


def _rational_volatility_annualized_bps(prices: list[Decimal]) -> int:
    rets = [Fraction(cur) / Fraction(prev) - 1 for prev, cur in zip(prices, prices[1:])]
    m = len(rets)
    mean = sum(rets, Fraction(0)) / m
    var = sum(((r - mean) ** 2 for r in rets), Fraction(0)) / m
    scaled = var * HOURS_PER_YEAR * 10**8
    return math.isqrt(scaled.numerator * scaled.denominator) // scaled.denominator
