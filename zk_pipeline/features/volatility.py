"""Annualized volatility in basis points, computed with integers only.

Formula (all divisions floor, ``S = RETURN_SCALE = 10**8``):

* returns ``r_i = min(S, floor((p_i - p_{i-1}) * S / p_{i-1}))`` for
  ``i = 1..m`` where ``p_0..p_m`` are the window's hourly prices (``m = n - 1``
  for ``n`` observations). ``r_i >= -S`` holds automatically since prices are
  positive; the upper cap (a >100 % rise within one hour) only bites on absurd
  data and keeps every square below ``S**2``.
* ``var_num = m * sum(r_i**2) - (sum r_i)**2``: ``m**2`` times the population
  variance, exact and never negative (Cauchy-Schwarz).
* ``volatility_annualized_bps = floor(isqrt(var_num * 8760 * 10**8) / (m * S))``,
  i.e. ``floor(sigma * sqrt(8760) * 10**4)`` with ``sigma = sqrt(var_num) / (m*S)``.
  ``floor(isqrt(x) / k) == floor(sqrt(x) / k)`` for a positive integer ``k``,
  so the only rounding beyond the final floor is in the returns themselves.

Bound: ``var_num <= m**2 * S**2``; with ``m < 8760`` the radicand stays below
``8760**2 * 10**16 * 8760 * 10**8 < 2**128``.
"""

from __future__ import annotations

from dataclasses import dataclass

from zk_pipeline.features.fixed_point import RETURN_SCALE, isqrt

HOURS_PER_YEAR = 8760
#: Largest number of returns for which the 2**128 bound above is proven.
MAX_RETURNS = HOURS_PER_YEAR - 1
#: Turns a per-hour standard deviation into annualized basis points under the root.
ANNUALIZE_BPS2 = HOURS_PER_YEAR * 10**8


@dataclass(frozen=True)
class VolatilityTrace:
    """Every intermediate of the volatility computation.

    The STARK witness is built from this, so the prover never recomputes the
    model by a second, possibly diverging, path.
    """

    returns: tuple[int, ...]
    remainders: tuple[int, ...]
    sum_returns: int
    sum_squares: int
    var_num: int
    radicand: int
    root: int
    volatility_annualized_bps: int


def hourly_return(prev: int, cur: int) -> tuple[int, int]:
    """``(r, rem)`` with ``(cur - prev) * S == q * prev + rem``, ``0 <= rem < prev``, ``r = min(q, S)``."""
    if prev <= 0 or cur <= 0:
        raise ValueError("prices must be positive")
    q, rem = divmod((cur - prev) * RETURN_SCALE, prev)
    return min(q, RETURN_SCALE), rem


def volatility_trace(prices: list[int] | tuple[int, ...]) -> VolatilityTrace:
    if len(prices) < 2:
        raise ValueError("volatility needs at least two prices")
    m = len(prices) - 1
    if m > MAX_RETURNS:
        raise ValueError(f"window too long: {m} returns > {MAX_RETURNS}")
    rets: list[int] = []
    rems: list[int] = []
    for prev, cur in zip(prices, prices[1:]):
        r, rem = hourly_return(prev, cur)
        rets.append(r)
        rems.append(rem)
    s1 = sum(rets)
    s2 = sum(r * r for r in rets)
    var_num = m * s2 - s1 * s1
    radicand = var_num * ANNUALIZE_BPS2
    root = isqrt(radicand)
    vol = root // (m * RETURN_SCALE)
    return VolatilityTrace(tuple(rets), tuple(rems), s1, s2, var_num, radicand, root, vol)


def volatility_annualized_bps(prices: list[int] | tuple[int, ...]) -> int:
    return volatility_trace(prices).volatility_annualized_bps
