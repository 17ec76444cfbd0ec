"""Polynomials over the Stark field: radix-2 NTT, coset low-degree extension, evaluation.

Conventions: a polynomial is its coefficient list, lowest degree first. The
*trace domain* of size ``n`` is the subgroup ``<w_n>``; the *LDE domain* of
size ``N = blowup * n`` is the coset ``s * <w_N>`` with ``s = GENERATOR``, so
it never meets the trace domain (constraint quotients stay defined there).

The NTT is the iterative Cooley-Tukey butterfly on bit-reversed input. It is
vectorised with NumPy object arrays over the last axis, so a whole matrix of
columns (shape ``(columns, n)``) is transformed layer by layer in one pass.
"""

from __future__ import annotations

import operator
from functools import lru_cache

import numpy as np

from zk_pipeline.stark.field import GENERATOR, P, batch_inverse, inv, powers, root_of_unity

COSET_SHIFT = GENERATOR


@lru_cache(maxsize=64)
def _bit_reverse(n: int) -> np.ndarray:
    logn = n.bit_length() - 1
    idx = np.arange(n)
    out = np.zeros(n, dtype=np.int64)
    for b in range(logn):
        out |= ((idx >> b) & 1) << (logn - 1 - b)
    return out


@lru_cache(maxsize=256)
def _twiddles(m: int, inverse: bool) -> np.ndarray:
    w = root_of_unity(m)
    if inverse:
        w = inv(w)
    return np.array(powers(w, m // 2), dtype=object)


def ntt(values: np.ndarray, inverse: bool = False, scale: bool = True) -> np.ndarray:
    """Evaluate (or, with ``inverse``, interpolate) along the last axis on ``<w_n>``.

    Forward: coefficients -> ``[f(w^0), f(w^1), ...]``. Inverse: evaluations ->
    coefficients. ``n`` must be a power of two.
    """
    a = np.asarray(values, dtype=object)
    n = a.shape[-1]
    if n & (n - 1):
        raise ValueError("NTT size must be a power of two")
    a = a[..., _bit_reverse(n)]
    m = 2
    lead = a.shape[:-1]
    while m <= n:
        h = m // 2
        blocks = a.reshape(lead + (n // m, 2, h))
        u = blocks[..., 0, :]
        # the first layer's only twiddle is 1: no multiplication
        v = blocks[..., 1, :] if m == 2 else blocks[..., 1, :] * _twiddles(m, inverse) % P
        top = (u + v) % P
        bot = (u - v) % P
        blocks[..., 0, :] = top
        blocks[..., 1, :] = bot
        a = blocks.reshape(lead + (n,))
        m *= 2
    if inverse and scale:
        a = a * inv(n) % P
    return a


def interpolate(evals: np.ndarray) -> np.ndarray:
    """Coefficients of the polynomial through ``evals`` on the subgroup ``<w_n>``."""
    return ntt(evals, inverse=True)


def coset_evaluate(coeffs: np.ndarray, size: int, shift: int = COSET_SHIFT) -> np.ndarray:
    """Evaluate polynomials (rows of ``coeffs``) on the coset ``shift * <w_size>``."""
    c = np.asarray(coeffs, dtype=object)
    deg = c.shape[-1]
    if deg > size:
        raise ValueError("polynomial longer than the evaluation domain")
    scaled = c * np.array(powers(shift, deg), dtype=object) % P
    padded = np.zeros(c.shape[:-1] + (size,), dtype=object)
    padded[..., :deg] = scaled
    return ntt(padded)


def coset_interpolate(evals: np.ndarray, shift: int = COSET_SHIFT) -> np.ndarray:
    """Inverse of :func:`coset_evaluate` (full-length coefficient vectors)."""
    c = ntt(evals, inverse=True)
    n = c.shape[-1]
    return c * np.array(powers(inv(shift), n), dtype=object) % P


def coset_evaluate_short(coeffs: np.ndarray, blowup: int, shift: int = COSET_SHIFT, factor: int = 1) -> np.ndarray:
    """Same result as ``coset_evaluate(coeffs, blowup * n)`` for ``n`` coefficients, ~25% cheaper.

    The LDE coset ``s * <w_N>`` splits into ``blowup`` cosets ``s w_N^j * <w_n>``;
    on each, ``f(s w_N^j y)`` is the size-``n`` NTT of the coefficients scaled
    by ``(s w_N^j)^k``. ``blowup`` NTTs of size ``n`` cost ``log n`` instead of
    ``log N`` butterfly layers per point. Output index ``j + blowup * i`` is
    the point ``s w_N^(j + blowup i) = s w_N^j * w_n^i``.
    """
    c = np.asarray(coeffs, dtype=object)
    n = c.shape[-1]
    big = n * blowup
    w = root_of_unity(big)
    out = np.empty(c.shape[:-1] + (n, blowup), dtype=object)
    for j in range(blowup):
        scale = np.array(powers(shift * pow(w, j, P) % P, n, start=factor), dtype=object)
        out[..., j] = ntt(c * scale % P)
    return out.reshape(c.shape[:-1] + (big,))


def low_degree_extend(columns: np.ndarray, blowup: int) -> np.ndarray:
    """Trace columns (shape ``(k, n)``) -> their evaluations on the LDE coset ``s * <w_{blowup n}>``.

    The inverse NTT's ``1/n`` is folded into the coset scaling (one pass fewer).
    """
    n = columns.shape[-1]
    return coset_evaluate_short(ntt(columns, inverse=True, scale=False), blowup, factor=inv(n))


def evaluate(coeffs, x: int) -> int:
    """Horner evaluation of one polynomial at one point."""
    acc = 0
    for c in reversed(list(coeffs)):
        acc = (acc * x + int(c)) % P
    return acc


def domain(size: int, shift: int = 1) -> np.ndarray:
    return np.array(powers(root_of_unity(size), size, start=shift), dtype=object)


def barycentric_weights(n: int, z: int) -> list[int]:
    """Weights ``L_i(z)`` of the Lagrange basis on ``<w_n>`` at ``z`` (``z`` not in the domain).

    ``f(z) = sum_i f(w^i) * L_i(z)`` with
    ``L_i(z) = w^i * (z^n - 1) / (n * (z - w^i))``: ``O(n)`` products and one
    inversion — how the verifier evaluates a *public* column it knows only by
    its values on the trace domain.
    """
    w_pows = powers(root_of_unity(n), n)
    inv_den = batch_inverse([(z - x) % P for x in w_pows])
    factor = (pow(z, n, P) - 1) * inv(n) % P
    return [w_pows[i] * inv_den[i] % P * factor % P for i in range(n)]


def evaluate_by_weights(values, weights: list[int]) -> int:
    return sum(map(operator.mul, map(int, values), weights)) % P
