"""The STARK prover (generic over :class:`~zk_pipeline.stark.air.Air`).

Protocol, in transcript order (the verifier replays exactly this):

1. seed the transcript with the AIR id, the proof parameters, the trace
   length, the AIR's public input bytes and a hash of its public columns;
2. **main trace**: interpolate every column over ``<w_n>``, evaluate on the
   coset ``s * <w_N>`` (``N = blowup * n``), commit the rows in a Merkle tree;
3. **aux trace** (if any): draw challenges, build the LogUp columns, commit;
4. **composition**: draw one coefficient per constraint, evaluate
   ``H = sum_i a_i * C_i / Z_i`` on the LDE coset (``Z`` = ``x^n - 1`` for
   transition constraints, ``x - w^row`` for row constraints), interpolate,
   split ``H(x) = sum_j x^{jn} H_j(x)`` into ``chunks`` polynomials of degree
   ``< n`` and commit their evaluations;
5. **DEEP / out-of-domain**: draw ``z``, send every trace cell the constraints
   read, at ``z * w^offset``, and ``H_j(z)``;
6. **DEEP composition**: draw one coefficient per sent value and build
   ``D(x) = sum g_c (T_c(x) - T_c(z w^o)) / (x - z w^o) + sum g_j (H_j(x) - H_j(z)) / (x - z)``,
   a polynomial of degree ``< n`` iff every sent value is honest;
7. **FRI** on ``D`` (see :mod:`fri`), then **proof of work**, then draw the
   query positions, one per first-layer FRI coset, and open all trees there.
"""

from __future__ import annotations

import hashlib
import time
from itertools import repeat
from dataclasses import dataclass

import numpy as np

from zk_pipeline.stark.air import AUX, MAIN, PUB, Air, Frame
from zk_pipeline.stark.field import P, batch_inverse, inv, root_of_unity
from zk_pipeline.stark.fri import FriProof, FriProver
from zk_pipeline.stark.fvec import FVec
from zk_pipeline.stark.merkle import MerkleTree
from zk_pipeline.stark.params import DEFAULT_PARAMS, ProofParams
from zk_pipeline.stark.poly import (
    COSET_SHIFT, barycentric_weights_vec, coset_evaluate_short, coset_interpolate, domain, interpolate,
    low_degree_extend,
)
from zk_pipeline.stark.proof import Opening, Proof
from zk_pipeline.stark.transcript import Transcript


class ProvingError(ValueError):
    """The trace or the parameters cannot make a proof for this AIR (shape, degree, or unsatisfied constraints)."""


def public_columns_digest(air: Air) -> bytes:
    h = hashlib.blake2s()
    for col in air.public_columns():
        h.update(b"".join(map(int.to_bytes, map(int, col), repeat(32), repeat("big"))))
    return h.digest()


def start_transcript(air: Air, params: ProofParams) -> Transcript:
    t = Transcript(air.air_id.encode())
    t.absorb("params", params.to_bytes())
    t.absorb("trace-shape", air.trace_length.to_bytes(8, "big") + air.main_width.to_bytes(4, "big")
             + air.aux_width.to_bytes(4, "big"))
    t.absorb("public-inputs", air.public_input_bytes())
    t.absorb("public-columns", public_columns_digest(air))
    return t


def draw_ood_point(t: Transcript, n: int, lde_size: int) -> int:
    """``z`` outside the trace domain and the LDE coset (redrawn in the negligible other case)."""
    while True:
        z = t.draw_element()
        if pow(z, n, P) != 1 and pow(z * inv(COSET_SHIFT) % P, lde_size, P) != 1:
            return z


def _commit(matrix: FVec) -> MerkleTree:
    """Leaf ``j`` = the 32-byte big-endian encodings of the column values at point ``j``, concatenated."""
    return MerkleTree(matrix.leaf_bytes())


#: Points of the constraint evaluation domain evaluated at once: bounds the memory of the
#: constraint temporaries (hundreds of vectors) at large traces; one block up to 2^14 points.
COMPOSITION_BLOCK = 1 << 14


class _LdeFrame(Frame):
    """Cells as vectors over the block ``[start, start + size)`` of the evaluation coset.

    ``T(x * w^off)`` at point ``j`` is ``T`` at point ``j + off * blowup`` (cyclically): a
    view of the column when the block does not wrap around, a gathered copy when it does.
    """

    def __init__(self, lde: dict[str, FVec], blowup: int, start: int, size: int):
        self.lde = lde
        self.blowup = blowup
        self.start = start
        self.size = size
        self._cache: dict = {}

    def cell(self, segment: str, col: int, offset: int):
        key = (segment, col, offset)
        v = self._cache.get(key)
        if v is None:
            row = self.lde[segment][col]
            total = row.shape[-1]
            a = (self.start + offset * self.blowup) % total
            if a + self.size <= total:
                v = row[a : a + self.size]
            else:
                v = row[(np.arange(self.size) + a) % total]
            self._cache[key] = v
        return v


def _combine(coeffs, exprs, size: int) -> FVec:
    """``sum_i coeffs[i] * exprs[i]`` over the domain (constant expressions folded in once)."""
    const = 0
    vecs, vcoeffs = [], []
    for a, e in zip(coeffs, exprs):
        if isinstance(e, FVec):
            vecs.append(e)
            vcoeffs.append(a)
        else:
            const += a * int(e)
    acc = FVec.linear_combination(vecs, vcoeffs) if vecs else FVec.zeros(size)
    return acc + const


def _composition(air: Air, lde: dict[str, FVec], ce: int, n: int, alphas, challenges) -> FVec:
    """``H = sum_i a_i C_i / Z_i`` on the coset ``s * <w_E>`` (``E = ce * n``), block by block."""
    E = ce * n
    shape = air.shape()
    w_n = root_of_unity(n)
    # 1 / (x^n - 1) repeats with period `ce` on this coset.
    zh = [(pow(COSET_SHIFT, n, P) * pow(root_of_unity(E), j * n, P) - 1) % P for j in range(ce)]
    block = min(E, max(COMPOSITION_BLOCK, ce))
    zh_inv = FVec.of(batch_inverse(zh)).tile(block // ce)
    blocks = []
    for start in range(0, E, block):
        frame = _LdeFrame(lde, ce, start, block)
        xs = FVec.powers(root_of_unity(E), block, start=COSET_SHIFT * pow(root_of_unity(E), start, P))
        k = shape.num_transition
        comp = _combine(alphas[:k], air.transition_constraints(frame, challenges), block) * zh_inv
        by_row: dict[int, FVec] = {}
        for row, fn in air.row_constraints():
            exprs = fn(frame, challenges)
            racc = _combine(alphas[k : k + len(exprs)], exprs, block)
            k += len(exprs)
            by_row[row] = by_row[row] + racc if row in by_row else racc
        for row, racc in by_row.items():
            comp = comp + racc * (xs - pow(w_n, row, P)).inverse()
        blocks.append(comp)
    return FVec.concat(blocks) if len(blocks) > 1 else blocks[0]


@dataclass
class ProverStats:
    """Filled in by :func:`prove` when passed: total and per-phase wall time."""

    prove_ms: float = 0.0
    phases: dict | None = None


def prove(air: Air, main_trace: np.ndarray, params: ProofParams = DEFAULT_PARAMS, *,
          self_check: bool = True, stats: ProverStats | None = None) -> Proof:
    """Prove that ``main_trace`` (shape ``(main_width, n)``) satisfies ``air``.

    ``self_check=False`` skips the prover's own constraint check: only tests of
    dishonest provers use it (the verifier must then reject).
    """
    t0 = time.perf_counter()
    phases: dict[str, float] = {}
    tick = [t0]

    def lap(name: str) -> None:
        now = time.perf_counter()
        phases[name] = round((now - tick[0]) * 1000, 1)
        tick[0] = now

    n = air.trace_length
    if n & (n - 1) or n < 4:
        raise ProvingError("trace length must be a power of two >= 4")
    main_ints = np.asarray(main_trace, dtype=object) % P
    if main_ints.shape != (air.main_width, n):
        raise ProvingError(f"main trace has shape {main_ints.shape}, AIR expects {(air.main_width, n)}")
    shape = air.shape()
    blowup = params.blowup
    N = n * blowup
    if shape.composition_chunks >= blowup:
        raise ProvingError(f"constraint degree needs blowup > {shape.composition_chunks}")
    if params.num_queries > N // params.fri_folding_factor:
        raise ProvingError("more queries than first-layer FRI cosets (each query needs its own)")

    t = start_transcript(air, params)

    # 2. main trace
    main = FVec.of(main_ints)
    main_lde = low_degree_extend(main, blowup)
    main_tree = _commit(main_lde)
    t.absorb("main-root", main_tree.root)
    lap("main_commit")

    # 3. aux trace
    challenges = t.draw_elements(air.num_aux_challenges)
    aux_ints = (air.build_aux_trace(main_ints, challenges) % P if air.aux_width
                else np.zeros((0, n), dtype=object))
    if aux_ints.shape != (air.aux_width, n):
        raise ProvingError(f"aux trace has shape {aux_ints.shape}, AIR expects {(air.aux_width, n)}")
    aux = FVec.of(aux_ints)
    aux_tree = None
    if air.aux_width:
        aux_lde = low_degree_extend(aux, blowup)
        aux_tree = _commit(aux_lde)
        t.absorb("aux-root", aux_tree.root)
    else:
        aux_lde = FVec.zeros((0, N))
    lap("aux_commit")

    # 4. composition polynomial, evaluated on the smallest coset that determines it:
    #    deg H < chunks * n, so E = ce * n points (ce a power of two > chunks) suffice; the
    #    LDE coset s*<w_N> contains s*<w_E> as every (blowup/ce)-th point.
    chunks = shape.composition_chunks
    ce = 2
    while ce <= chunks:
        ce *= 2
    stride = blowup // ce
    E = ce * n
    pub = air.public_columns()
    pub_ev = coset_evaluate_short(interpolate(FVec.of(pub)), ce) if len(pub) else FVec.zeros((0, E))
    num_row = sum(c for _, c in shape.row_groups)
    alphas = t.draw_elements(shape.num_transition + num_row)
    lde = {MAIN: main_lde[:, ::stride], AUX: aux_lde[:, ::stride], PUB: pub_ev}
    comp = _composition(air, lde, ce, n, alphas, challenges)
    lap("composition_eval")
    comp_coeffs = coset_interpolate(comp)
    if self_check and not comp_coeffs[chunks * n:].is_zero():
        # H is a polynomial of degree < chunks * n iff every constraint holds on the trace
        # (up to a negligible chance over the alphas); name the failing ones.
        failures = air.check_trace(main_ints, aux_ints, challenges) or ["composition not of low degree"]
        raise ProvingError("the trace does not satisfy the AIR: " + "; ".join(failures[:5]))
    chunk_coeffs = comp_coeffs[: chunks * n].reshape(chunks, n)
    chunk_lde = coset_evaluate_short(chunk_coeffs, blowup)
    comp_tree = _commit(chunk_lde)
    t.absorb("composition-root", comp_tree.root)
    lap("composition_commit")

    # 5. out-of-domain values
    z = draw_ood_point(t, n, N)
    trace_cells = [c for c in shape.frame_cells if c[0] != PUB]
    ood = ood_values(trace_cells, {MAIN: main, AUX: aux}, n, z)
    z_pows = FVec.powers(z, n)
    chunk_at_z = [c.dot(z_pows) for c in chunk_coeffs]
    t.absorb_elements("ood", ood + chunk_at_z)
    lap("ood")

    # 6. DEEP composition
    gammas = t.draw_elements(len(trace_cells) + chunks)
    w_n = root_of_unity(n)
    lde_of = {MAIN: main_lde, AUX: aux_lde}
    xs = domain(N, COSET_SHIFT)
    deep = FVec.zeros(N)
    by_offset: dict[int, list[int]] = {}
    for i, (_seg, _col, off) in enumerate(trace_cells):
        by_offset.setdefault(off, []).append(i)
    groups = [(off, idxs, [lde_of[trace_cells[i][0]][trace_cells[i][1]] for i in idxs])
              for off, idxs in sorted(by_offset.items())]
    groups.append((0, list(range(len(trace_cells), len(trace_cells) + chunks)), list(chunk_lde)))
    values = ood + chunk_at_z
    # 1/(x - z w_n^o) = w_n^-o / (x w_n^-o - z), and x w_n^-o is x moved back o*blowup places on the
    # coset: one batch inversion serves every offset.
    inv_z = (xs - z).inverse()
    for off, idxs, rows in groups:
        # sum_i g_i (T_i(x) - v_i) / (x - z w^off): one linear combination over the group, one division
        num = FVec.linear_combination(rows, [gammas[i] for i in idxs]) - sum(gammas[i] * values[i] for i in idxs)
        den_inv = inv_z.roll(off * blowup) * inv(pow(w_n, off, P)) if off else inv_z
        deep = deep + num * den_inv
    lap("deep")

    # 7. FRI, proof of work, queries
    fri = FriProver(params, n, N, COSET_SHIFT)
    fri_roots, remainder = fri.commit(deep, t)
    lap("fri_commit")
    nonce = t.grind(params.grinding_bits)
    t.absorb_nonce(nonce)
    lap("grinding")
    positions = t.draw_distinct_indices(params.num_queries, N, N // params.fri_folding_factor)
    leaves = sorted(set(positions))

    def opening(matrix: FVec, tree: MerkleTree) -> Opening:
        return Opening(matrix[:, leaves].ints().T.tolist(), tree.open(leaves))

    proof = Proof(
        air_id=air.air_id, params=params, trace_length=n, main_width=air.main_width, aux_width=air.aux_width,
        chunks=chunks, main_root=main_tree.root, aux_root=aux_tree.root if aux_tree else None,
        comp_root=comp_tree.root, ood=ood + chunk_at_z, fri=FriProof(fri_roots, remainder, fri.open(positions)),
        nonce=nonce, main_open=opening(main_lde, main_tree),
        aux_open=opening(aux_lde, aux_tree) if aux_tree else None, comp_open=opening(chunk_lde, comp_tree),
    )
    lap("open")
    if stats is not None:
        stats.prove_ms = (time.perf_counter() - t0) * 1000
        stats.phases = phases
    return proof


def ood_values(cells, traces: dict[str, FVec], n: int, z: int) -> list[int]:
    """Trace polynomial values at ``z * w^offset`` for every cell, by barycentric weights."""
    w_n = root_of_unity(n)
    out = []
    weights: dict[int, FVec] = {}
    for seg, col, off in cells:
        if off not in weights:
            weights[off] = barycentric_weights_vec(n, z * pow(w_n, off, P) % P)
        out.append(traces[seg][col].dot(weights[off]))
    return out
