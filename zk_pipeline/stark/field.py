"""The prime field of the proof system: the Stark field ``p = 2**251 + 17 * 2**192 + 1``.

Why this field
--------------
* Every quantity of the risk model is an integer below ``2**128`` (see
  ``features/volatility.py``); in a 251-bit field such a value is a single
  field element, products of two of them cannot wrap, and the AIR can state
  ``n = q * d + r`` as one constraint. A 31- or 64-bit field would need every
  product split into limbs with carries.
* Outputs are ``felt252`` values on Starknet, which live in exactly this field.
* ``|F| ~ 2**251`` makes every algebraic soundness error (random linear
  combinations, LogUp challenges, the out-of-domain point, FRI folding
  challenges) of order ``degree / 2**251`` — negligible — so no extension field
  is needed. Soundness never depends on the field being *smaller* than the
  values: every value that could wrap is range-checked instead.
* ``p - 1 = 2**192 * (2**59 + 17)``: a two-adicity of 192 gives radix-2 NTT
  domains of any size we will ever need. ``3`` generates the multiplicative
  group (the same generator Cairo uses).

The price is width: an element needs four 64-bit words, and Python ``int``
arithmetic on it costs ~0.4 us a product. This module is the scalar field the
verifier works in (plain ints); the prover's whole-domain arithmetic is in
:mod:`fvec`, whose native backend (C, 4-limb Montgomery) does a product in tens
of nanoseconds — as fast per element as NumPy over the 64-bit Goldilocks field
(``benchmarks/bench_fields.py``), so the small-field route would buy no speed
here, only narrower proofs at the cost of limbed constraints.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Sequence

P = 2**251 + 17 * 2**192 + 1
#: Generator of the multiplicative group of the field.
GENERATOR = 3
TWO_ADICITY = 192
#: Bytes of one serialized element (big-endian, always < P).
ELEMENT_BYTES = 32


def inv(x: int) -> int:
    x %= P
    if x == 0:
        raise ZeroDivisionError("inverse of zero in the field")
    return pow(x, P - 2, P)


@lru_cache(maxsize=None)
def root_of_unity(n: int) -> int:
    """A primitive ``n``-th root of unity (``n`` a power of two)."""
    if n <= 0 or n & (n - 1) or n.bit_length() - 1 > TWO_ADICITY:
        raise ValueError(f"no root of unity of order {n}")
    return pow(GENERATOR, (P - 1) // n, P)


def powers(base: int, count: int, start: int = 1) -> list[int]:
    out = [0] * count
    cur = start % P
    for i in range(count):
        out[i] = cur
        cur = cur * base % P
    return out


def batch_inverse(values: Sequence[int]) -> list[int]:
    """Montgomery's trick: ``n`` inverses for one exponentiation and ``3n`` products."""
    n = len(values)
    prefix = [1] * (n + 1)
    acc = 1
    for i, v in enumerate(values):
        if v % P == 0:
            raise ZeroDivisionError("batch inverse of zero")
        acc = acc * v % P
        prefix[i + 1] = acc
    inv_acc = pow(acc, P - 2, P)
    out = [0] * n
    for i in range(n - 1, -1, -1):
        out[i] = prefix[i] * inv_acc % P
        inv_acc = inv_acc * values[i] % P
    return out


def to_bytes(x: int) -> bytes:
    return int(x).to_bytes(ELEMENT_BYTES, "big")


def from_bytes(b: bytes) -> int:
    """Parse one canonical element; non-canonical encodings (``>= P``) are rejected."""
    if len(b) != ELEMENT_BYTES:
        raise ValueError("field element must be 32 bytes")
    x = int.from_bytes(b, "big")
    if x >= P:
        raise ValueError("field element not canonical (>= p)")
    return x


def signed(x: int) -> int:
    """The integer in ``(-p/2, p/2]`` congruent to ``x`` — for messages, never for checks."""
    x %= P
    return x - P if x > P // 2 else x
