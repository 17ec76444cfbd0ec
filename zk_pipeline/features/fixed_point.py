"""Fixed-point scales and exact integer helpers shared by the model and the prover.

Every quantity the model touches is a non-negative integer (or, for returns, a
signed integer whose absolute value is bounded) so that the same arithmetic can
be replayed inside a STARK over the Stark field without wrap-around. Floats are
only used at the edge, when decimal data from a source is converted once.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

#: Prices are stored as integers with 8 decimals (1 USD = 10**8 units).
PRICE_SCALE = 10**8
#: USD amounts (TVL, volume, fees) are stored as integers with 6 decimals.
USD_SCALE = 10**6
#: Hourly simple returns are integers with 8 decimals (1.0 = 10**8).
RETURN_SCALE = 10**8
#: Every raw input must be below this bound (it fits a signed BIGINT column); together with the window cap it
#: keeps every intermediate value below 2**128 (see ``features/volatility.py``).
MAX_RAW_INPUT = 2**63
BPS = 10_000


def to_fixed(value: float | str | Decimal, scale: int) -> int:
    """Round a decimal value half-to-even onto an integer grid of ``1/scale``.

    Decimal is used so that e.g. ``0.1`` in a CSV becomes exactly 10**7 at
    scale 10**8 instead of a binary-float neighbour.
    """
    try:
        d = Decimal(str(value))
    except InvalidOperation as exc:  # pragma: no cover - guarded by validation
        raise ValueError(f"not a number: {value!r}") from exc
    if not d.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return int((d * scale).to_integral_value(rounding=ROUND_HALF_EVEN))


def isqrt(n: int) -> int:
    """Floor square root; the prover constrains it by ``s*s <= n < (s+1)*(s+1)``."""
    if n < 0:
        raise ValueError("square root of a negative number")
    return math.isqrt(n)


def clamp(x: int, lo: int, hi: int) -> int:
    return lo if x < lo else hi if x > hi else x
