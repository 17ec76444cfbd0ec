"""What a smaller field would buy the prover: NTT cost per element, Stark field vs Goldilocks vs BabyBear.

Usage::

    python -m benchmarks.bench_fields             # the standard trace shape: 74 columns x 1024 rows
    python -m benchmarks.bench_fields --rows 4096

The built-in prover works over the Stark field (see ``zk_pipeline/stark/field.py``
for why), and its low-degree extension is the largest part of its time. This
benchmark measures the same radix-2 NTT over three fields on the same matrix
shape, so that the question "what would a 64- or 31-bit field buy?" is
answered with numbers:

* **Stark field** (251 bits), the prover's two backends (``stark/fvec.py``):
  the native C kernels (4-limb Montgomery, ``_felt.c``) and the pure-Python
  fallback (NumPy object arrays of Python ints);
* **Goldilocks** (``2^64 - 2^32 + 1``): NumPy ``uint64``; the 128-bit product
  is assembled from 32-bit halves and reduced with ``2^64 = 2^32 - 1``,
  ``2^96 = -1`` (mod p);
* **BabyBear** (``15 * 2^27 + 1``): NumPy ``uint64``, ``a * b % p``.

Each NumPy NTT is checked against a plain-integer NTT before it is timed. The
ratio is not the prover's speed-up: a small field needs an AIR with limb
arithmetic (more columns: every product of the model split into limbs with
carries) and an extension field for the challenges (composition, DEEP and FRI
then cost several base multiplications per element). The last columns say how
many times more committed cells each field could afford for the same NTT time.
"""

from __future__ import annotations

import argparse
import random

import numpy as np

from benchmarks.bench_pipeline import _timeit
from zk_pipeline.stark.fvec import FVec, _bit_reverse, _felt, _NativeOps, _PythonOps

GOLDILOCKS = 2**64 - 2**32 + 1
BABYBEAR = 15 * 2**27 + 1
_M32 = np.uint64(0xFFFFFFFF)
_S32 = np.uint64(32)


def _root(p: int, generator: int, n: int) -> int:
    return pow(generator, (p - 1) // n, p)


def reference_ntt(values: list[int], p: int, w: int) -> list[int]:
    """Plain-integer O(n^2) DFT: the ground truth the vectorised NTTs are checked against."""
    n = len(values)
    return [sum(v * pow(w, i * j, p) for j, v in enumerate(values)) % p for i in range(n)]


# --------------------------------------------------------------------------- Goldilocks


def gl_add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    s = a + b  # wraps mod 2^64 on overflow
    over = s < a
    s = np.where(over, s + np.uint64(0xFFFFFFFF), s)  # + 2^64 mod p = + (2^32 - 1)
    return np.where(s >= np.uint64(GOLDILOCKS), s - np.uint64(GOLDILOCKS), s)


def gl_sub(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = a - b
    return np.where(a < b, d + np.uint64(GOLDILOCKS), d)  # wrapped: d = a - b + 2^64; + p - 2^64 fixes it


def gl_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a_lo, a_hi = a & _M32, a >> _S32
    b_lo, b_hi = b & _M32, b >> _S32
    lo = a_lo * b_lo
    mid = a_lo * b_hi
    mid2 = a_hi * b_lo
    hi = a_hi * b_hi
    # 128-bit value = hi * 2^64 + (mid + mid2) * 2^32 + lo, as (high word, low word)
    mid_sum = mid + mid2
    mid_carry = (mid_sum < mid).astype(np.uint64)  # one bit: 2^64 * 2^32 = 2^96
    low = lo + (mid_sum << _S32)
    low_carry = (low < lo).astype(np.uint64)
    high = hi + (mid_sum >> _S32) + low_carry + (mid_carry << _S32)
    # reduce: x = high * 2^64 + low, 2^64 = 2^32 - 1, high = h1 * 2^32 + h0 -> h1 * 2^96 = -h1
    h0, h1 = high & _M32, high >> _S32
    t = gl_sub(low % np.uint64(GOLDILOCKS), h1)
    return gl_add(t, (h0 << _S32) - h0)  # h0 * (2^32 - 1) < p


def bb_add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a + b) % np.uint64(BABYBEAR)


def bb_sub(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a + np.uint64(BABYBEAR) - b) % np.uint64(BABYBEAR)


def bb_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a * b % np.uint64(BABYBEAR)  # 31-bit operands: the product fits 62 bits


def radix2_ntt(values: np.ndarray, w: int, p: int, add, sub, mul) -> np.ndarray:
    """The same iterative Cooley-Tukey NTT as ``stark.poly.ntt``, over a NumPy ``uint64`` field."""
    a = values[..., _bit_reverse(values.shape[-1])]
    n, lead, m = a.shape[-1], a.shape[:-1], 2
    while m <= n:
        h = m // 2
        tw = np.array([pow(w, (n // m) * k, p) for k in range(h)], dtype=np.uint64)
        blocks = a.reshape(lead + (n // m, 2, h))
        u, v = blocks[..., 0, :], mul(blocks[..., 1, :], tw)
        a = np.stack([add(u, v), sub(u, v)], axis=-2).reshape(lead + (n,))
        m *= 2
    return a


def gl_ntt(values: np.ndarray, w: int) -> np.ndarray:
    return radix2_ntt(values, w, GOLDILOCKS, gl_add, gl_sub, gl_mul)


def bb_ntt(values: np.ndarray, w: int) -> np.ndarray:
    return radix2_ntt(values, w, BABYBEAR, bb_add, bb_sub, bb_mul)


# --------------------------------------------------------------------------- driver


def _check(rng: random.Random) -> None:
    for p, g, ntt in ((GOLDILOCKS, 7, gl_ntt), (BABYBEAR, 31, bb_ntt)):
        n = 16
        w = _root(p, g, n)
        vals = [rng.randrange(p) for _ in range(n)]
        got = ntt(np.array([vals], dtype=np.uint64), w)[0].tolist()
        assert got == reference_ntt(vals, p, w), f"NTT over p={p} disagrees with the reference"
    edge = np.array([GOLDILOCKS - 1, GOLDILOCKS - 2, 2**32, 2**63], dtype=np.uint64)
    for x in edge:
        for y in edge:
            assert int(gl_mul(np.array([x]), np.array([y]))[0]) == int(x) * int(y) % GOLDILOCKS


def main(argv: list[str] | None = None) -> int:
    from zk_pipeline.stark.field import P

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1024)
    ap.add_argument("--columns", type=int, default=74)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    rng = random.Random(1)
    _check(rng)
    n, k = args.rows, args.columns
    butterflies = k * n * (n.bit_length() - 1)
    stark_rows = [[rng.randrange(P) for _ in range(n)] for _ in range(k)]
    stark_py = FVec.of(stark_rows, _PythonOps)
    gl = np.array([[rng.randrange(GOLDILOCKS) for _ in range(n)] for _ in range(k)], dtype=np.uint64)
    bb = np.array([[rng.randrange(BABYBEAR) for _ in range(n)] for _ in range(k)], dtype=np.uint64)
    cases = [
        ("Stark field (251-bit, Python ints)", 32, _timeit(lambda: stark_py.ntt(), args.repeats)),
        ("Goldilocks (64-bit, NumPy uint64)", 8, _timeit(lambda: gl_ntt(gl, _root(GOLDILOCKS, 7, n)), args.repeats)),
        ("BabyBear (31-bit, NumPy uint64)", 4, _timeit(lambda: bb_ntt(bb, _root(BABYBEAR, 31, n)), args.repeats)),
    ]
    if _felt is not None:
        stark_c = FVec.of(stark_rows, _NativeOps)
        assert stark_c.ntt().tolist() == stark_py.ntt().tolist(), "native and Python NTTs disagree"
        cases.insert(1, ("Stark field (251-bit, native C kernels)", 32, _timeit(lambda: stark_c.ntt(), args.repeats)))
    base = cases[0][2]
    print(f"Radix-2 NTT of {k} columns x {n} rows (median of {args.repeats}; checked against a reference DFT)\n")
    print(f"{'field':40s} | {'ms':>8s} | {'ns / element / layer':>20s} | {'bytes / element':>15s} | "
          f"{'vs Stark field':>14s}")
    print("-" * 40 + "-|-" + "-" * 8 + "-|-" + "-" * 20 + "-|-" + "-" * 15 + "-|-" + "-" * 14)
    for name, size, t in cases:
        print(f"{name:40s} | {t * 1000:8.1f} | {t / butterflies * 1e9:20.1f} | {size:15d} | {base / t:13.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
