"""Polynomials over the Stark field: radix-2 NTT, coset low-degree extension, evaluation.

Conventions: a polynomial is its coefficient list, lowest degree first. The
*trace domain* of size ``n`` is the subgroup ``<w_n>``; the *LDE domain* of
size ``N = blowup * n`` is the coset ``s * <w_N>`` with ``s = GENERATOR``, so
it never meets the trace domain (constraint quotients stay defined there).

The prover's side works on :class:`~zk_pipeline.stark.fvec.FVec` vectors and
matrices (rows = polynomials), whose NTT is the iterative Cooley-Tukey butterfly
on bit-reversed input; the verifier's side (Horner, barycentric weights) works
on single Python ints.
"""

from __future__ import annotations

import operator

from zk_pipeline.stark.field import GENERATOR, P, batch_inverse, inv, powers, root_of_unity
from zk_pipeline.stark.fvec import FVec

COSET_SHIFT = GENERATOR


def ntt(values: FVec, inverse: bool = False, scale: bool = True) -> FVec:
    """Evaluate (or, with ``inverse``, interpolate) every row on ``<w_n>``.

    Forward: coefficients -> ``[f(w^0), f(w^1), ...]``. Inverse: evaluations ->
    coefficients (times ``n`` when ``scale`` is false). ``n`` must be a power of two.
    """
    out = values.ntt(inverse)
    if inverse and scale:
        out = out * inv(values.shape[-1])
    return out


def interpolate(evals: FVec) -> FVec:
    """Coefficients of the polynomial through ``evals`` on the subgroup ``<w_n>``."""
    return ntt(evals, inverse=True)


def coset_evaluate(coeffs: FVec, size: int, shift: int = COSET_SHIFT) -> FVec:
    """Evaluate polynomials (rows of ``coeffs``) on the coset ``shift * <w_size>``."""
    deg = coeffs.shape[-1]
    if deg > size:
        raise ValueError("polynomial longer than the evaluation domain")
    return ntt((coeffs * FVec.powers(shift, deg, ops=coeffs.ops)).pad(size))


def coset_interpolate(evals: FVec, shift: int = COSET_SHIFT) -> FVec:
    """Inverse of :func:`coset_evaluate` (full-length coefficient vectors)."""
    n = evals.shape[-1]
    return ntt(evals, inverse=True, scale=False) * FVec.powers(inv(shift), n, start=inv(n), ops=evals.ops)


def coset_evaluate_short(coeffs: FVec, blowup: int, shift: int = COSET_SHIFT, factor: int = 1) -> FVec:
    """Same result as ``coset_evaluate(coeffs, blowup * n)`` for ``n`` coefficients, ~25% cheaper.

    The LDE coset ``s * <w_N>`` splits into ``blowup`` cosets ``s w_N^j * <w_n>``;
    on each, ``f(s w_N^j y)`` is the size-``n`` NTT of the coefficients scaled
    by ``(s w_N^j)^k``. ``blowup`` NTTs of size ``n`` cost ``log n`` instead of
    ``log N`` butterfly layers per point. Output index ``j + blowup * i`` is
    the point ``s w_N^(j + blowup i) = s w_N^j * w_n^i``.
    """
    n = coeffs.shape[-1]
    w = root_of_unity(n * blowup)
    parts = [ntt(coeffs * FVec.powers(shift * pow(w, j, P) % P, n, start=factor, ops=coeffs.ops))
             for j in range(blowup)]
    return FVec.interleave(parts)


def low_degree_extend(columns: FVec, blowup: int) -> FVec:
    """Trace columns (shape ``(k, n)``) -> their evaluations on the LDE coset ``s * <w_{blowup n}>``.

    The inverse NTT's ``1/n`` is folded into the coset scaling (one pass fewer).
    """
    n = columns.shape[-1]
    return coset_evaluate_short(ntt(columns, inverse=True, scale=False), blowup, factor=inv(n))


def domain(size: int, shift: int = 1) -> FVec:
    return FVec.powers(root_of_unity(size), size, start=shift)


def evaluate(coeffs, x: int) -> int:
    """Horner evaluation of one polynomial at one point."""
    acc = 0
    for c in reversed(list(coeffs)):
        acc = (acc * x + int(c)) % P
    return acc


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


def barycentric_weights_vec(n: int, z: int) -> FVec:
    """:func:`barycentric_weights` as a vector, computed with the prover's field backend."""
    w_pows = FVec.powers(root_of_unity(n), n)
    return w_pows * (z - w_pows).inverse() * ((pow(z, n, P) - 1) * inv(n))


def evaluate_by_weights(values, weights: list[int]) -> int:
    return sum(map(operator.mul, map(int, values), weights)) % P
