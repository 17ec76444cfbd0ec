"""FRI: the low-degree test at the bottom of the STARK.

Claim: the committed evaluations of ``f`` on the coset ``D_0 = s * <w_N>`` come
from a polynomial of degree ``< d_0`` (here ``d_0 = n``, the trace length, and
``N = blowup * n``).

Commit phase, with folding factor ``k``: write ``f(X) = sum_{j<k} X^j f_j(X^k)``.
After committing layer ``i`` the transcript yields ``beta_i`` and the next
layer is ``f'(Y) = sum_j beta_i^j f_j(Y)`` on ``D_{i+1} = D_i^k`` (``k`` times
smaller, degree ``k`` times lower). The ``k`` points ``x * zeta^t`` (``zeta`` a
primitive ``k``-th root of unity) all map to ``x^k``, so layer ``i`` is
committed with one Merkle leaf per such coset: leaf ``j`` holds positions
``j + t * |D_i|/k`` for ``t = 0..k-1``. Folding stops when the degree bound is
at most ``fri_remainder_max_degree + 1``; that last polynomial is sent in the
clear as coefficients.

Query phase: for every query position the verifier opens the coset leaf in
each layer and, at the end, checks that the folded value equals the clear
polynomial at that point. In every leaf the verifier already knows the values
at the query positions (layer 0: the DEEP composition value it computed
itself; later layers: its own folding of the previous leaf), so the proof
omits them: the verifier puts its own values in their slots, and the Merkle
check of the leaf is then also the check that they are right. This saves one
element per query per layer.

Folding one coset: with ``v_t = f(x zeta^t)``, the small inverse DFT gives
``x^j f_j(x^k) = (1/k) sum_t zeta^{-tj} v_t``, hence
``f'(x^k) = sum_j (beta / x)^j * (1/k) sum_t zeta^{-tj} v_t``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from zk_pipeline.stark.field import P, inv, root_of_unity, to_bytes
from zk_pipeline.stark.fvec import FVec
from zk_pipeline.stark.merkle import MerkleTree, verify as merkle_verify
from zk_pipeline.stark.poly import coset_interpolate, evaluate
from zk_pipeline.stark.params import ProofParams
from zk_pipeline.stark.transcript import Transcript


class FriError(ValueError):
    pass


@dataclass
class FriLayerProof:
    #: The opened leaves' values (ascending leaf index, then slot) except the query positions'.
    values: list[int]
    auth: list[bytes]  # Merkle multiproof


@dataclass
class FriProof:
    roots: list[bytes]
    remainder: list[int]  # coefficients, lowest first
    layers: list[FriLayerProof]


def layer_plan(degree_bound: int, lde_size: int, params: ProofParams) -> list[tuple[int, int]]:
    """``[(domain size, degree bound)]`` of every committed layer; the remainder follows."""
    k = params.fri_folding_factor
    plan = []
    d, size = degree_bound, lde_size
    while d > params.fri_remainder_max_degree + 1:
        if size < k or d % k:
            raise FriError("FRI layer sizes must divide by the folding factor")
        plan.append((size, d))
        d //= k
        size //= k
    return plan


def remainder_size(degree_bound: int, params: ProofParams) -> int:
    d = degree_bound
    while d > params.fri_remainder_max_degree + 1:
        d //= params.fri_folding_factor
    return d


@lru_cache(maxsize=None)
def _inverse_dft(k: int) -> tuple[tuple[int, ...], ...]:
    """``M[j][t] = zeta^{-tj} / k``: the inverse DFT of size ``k``."""
    zeta_inv = inv(root_of_unity(k))
    k_inv = inv(k)
    return tuple(tuple(pow(zeta_inv, t * j, P) * k_inv % P for t in range(k)) for j in range(k))


def fold(values, x_inv, beta: int, k: int):
    """Fold cosets: ``values`` has shape ``(k, M)`` (row ``t`` = points ``x_j * zeta^t``).

    The same code folds the prover's whole layer (:class:`FVec`, reduced by its own
    arithmetic) and the verifier's opened cosets (object arrays of ints, reduced here).
    """
    if isinstance(values, FVec):
        def red(v):
            return v

        combine = values.combine
    else:
        def red(v):
            return v % P

        def combine(row):
            return red(sum(values[t] * row[t] for t in range(k)))

    # c_j = (1/k) sum_t zeta^{-tj} v_t  =  x^j f_j(x^k)
    coeffs = [combine(row) for row in _inverse_dft(k)]
    bx = red(x_inv * beta)
    out = coeffs[k - 1]
    for j in range(k - 2, -1, -1):  # Horner in (beta / x)
        out = red(out * bx + coeffs[j])
    return out


def _leaf_bytes(values) -> bytes:
    return b"".join(to_bytes(int(v)) for v in values)


class FriProver:
    def __init__(self, params: ProofParams, degree_bound: int, lde_size: int, shift: int):
        self.params = params
        self.degree_bound = degree_bound
        self.lde_size = lde_size
        self.shift = shift
        self.layers: list[tuple[FVec, MerkleTree]] = []  # (matrix (k, M), tree)

    def commit(self, evals: FVec, transcript: Transcript, self_check: bool = True
               ) -> tuple[list[bytes], list[int]]:
        k = self.params.fri_folding_factor
        cur = evals
        shift = self.shift
        roots = []
        for size, _d in layer_plan(self.degree_bound, self.lde_size, self.params):
            m = size // k
            mat = cur.reshape(k, m)
            tree = MerkleTree(mat.leaf_bytes())  # leaf j = the coset values mat[:, j]
            self.layers.append((mat, tree))
            roots.append(tree.root)
            transcript.absorb("fri-layer", tree.root)
            beta = transcript.draw_element()
            omega_inv = inv(root_of_unity(size))
            x_inv = FVec.powers(omega_inv, m, start=inv(shift), ops=cur.ops)
            cur = fold(mat, x_inv, beta, k)
            shift = pow(shift, k, P)
        d_last = remainder_size(self.degree_bound, self.params)
        coeffs = coset_interpolate(cur, shift)
        if self_check and not coeffs[d_last:].is_zero():
            raise FriError("prover self-check: the last FRI layer is not of low degree")
        remainder = coeffs[:d_last].tolist()
        transcript.absorb_elements("fri-remainder", remainder)
        return roots, remainder

    def open(self, positions: list[int]) -> list[FriLayerProof]:
        out = []
        current = set(positions)  # positions in the current layer the verifier will know
        for mat, tree in self.layers:
            m = mat.shape[1]
            leaves = sorted({p % m for p in current})
            cols = mat[:, leaves].ints().T.tolist()
            sent = [v for j, col in zip(leaves, cols) for t, v in enumerate(col) if j + t * m not in current]
            out.append(FriLayerProof(sent, tree.open(leaves)))
            current = set(leaves)  # leaf j folds to position j of the next layer
        return out


def verify_fri(
    proof: FriProof,
    params: ProofParams,
    degree_bound: int,
    lde_size: int,
    shift: int,
    betas: list[int],
    positions: list[int],
    first_values: dict[int, int],
) -> None:
    """Raise :class:`FriError` unless every query folds consistently down to the remainder.

    ``betas`` were drawn by the caller's transcript replay (one per layer root);
    ``first_values`` maps each query position to the DEEP value the verifier computed.
    """
    k = params.fri_folding_factor
    plan = layer_plan(degree_bound, lde_size, params)
    if len(proof.roots) != len(plan) or len(proof.layers) != len(plan) or len(betas) != len(plan):
        raise FriError("wrong number of FRI layers")
    if len(proof.remainder) != remainder_size(degree_bound, params):
        raise FriError("wrong FRI remainder size")
    expected = dict(first_values)  # position in the current layer -> value
    for (size, _d), root, layer, beta in zip(plan, proof.roots, proof.layers, betas):
        m = size // k
        leaves = sorted({p % m for p in expected})
        if len(layer.values) != len(leaves) * k - len(expected):
            raise FriError("FRI layer opening has the wrong number of values")
        sent = iter(layer.values)
        opened = {j: [expected[j + t * m] if j + t * m in expected else next(sent) for t in range(k)]
                  for j in leaves}
        # The expected values sit in their slots: the leaf hashes to the root only if they are right.
        if not merkle_verify(root, m, {j: _leaf_bytes(opened[j]) for j in leaves}, layer.auth):
            raise FriError("FRI layer opening does not match its root (or a value does not match the "
                           "previous layer's folding)")
        omega_inv = inv(root_of_unity(size))
        shift_inv = inv(shift)
        nxt = {}
        for j in leaves:
            x_inv = shift_inv * pow(omega_inv, j, P) % P
            col = np.array([[v] for v in opened[j]], dtype=object)
            nxt[j] = int(fold(col, np.array([x_inv], dtype=object), beta, k)[0])
        expected = nxt
        shift = pow(shift, k, P)
        lde_size = m
    omega = root_of_unity(lde_size)
    for pos, value in expected.items():
        x = shift * pow(omega, pos, P) % P
        if evaluate(proof.remainder, x) != value:
            raise FriError("FRI remainder does not match the last folded layer")
