"""The STARK verifier (generic over :class:`~zk_pipeline.stark.air.Air`).

It replays the prover's transcript (see :mod:`prover` for the order) and checks:

1. the proof's AIR id, trace shape and parameters match the AIR, the
   parameters are inside the :class:`~params.SecurityPolicy`, and the proof
   gives at least ``min_security_bits`` of conjectured security, counted from
   the distinct first-layer FRI cosets its queries open (checked once before
   any work from the parameters, and again on the drawn positions);
2. **out-of-domain consistency**: the constraints evaluated at ``z`` on the
   sent trace values (public columns are evaluated by the verifier itself)
   give ``H(z) = sum_j z^{jn} H_j(z)``;
3. the **proof of work** nonce;
4. at every query position: the Merkle openings of the main, aux and
   composition rows, the DEEP composition value computed from them, and FRI
   from that value down to the clear remainder polynomial.

Every failure raises :class:`VerificationError` with the reason; a proof that
passes all checks is accepted.
"""

from __future__ import annotations


from zk_pipeline.stark.air import AUX, MAIN, PUB, Air, DictFrame
from zk_pipeline.stark.field import P, batch_inverse, inv, root_of_unity, to_bytes
from zk_pipeline.stark.fri import FriError, verify_fri, layer_plan
from zk_pipeline.stark.merkle import verify as merkle_verify
from zk_pipeline.stark.params import SECURITY_POLICY, ParamsError, SecurityPolicy, SecurityReport
from zk_pipeline.stark.poly import COSET_SHIFT, barycentric_weights, evaluate_by_weights
from zk_pipeline.stark.proof import Opening, Proof
from zk_pipeline.stark.prover import draw_ood_point, start_transcript


class VerificationError(ValueError):
    """The proof is invalid; the message says which check failed."""


def verify(air: Air, proof: Proof, min_security_bits: int = 96,
           policy: SecurityPolicy = SECURITY_POLICY) -> SecurityReport:
    """Check ``proof`` against ``air``; return the security it has, or raise."""
    params = proof.params
    n = air.trace_length
    N = n * params.blowup
    cosets = N // params.fri_folding_factor  # first-layer FRI cosets
    shape = air.shape()
    try:
        policy.check(params)
    except ParamsError as exc:
        raise VerificationError(str(exc)) from None
    if params.num_queries > cosets:
        raise VerificationError(f"{params.num_queries} queries but only {cosets} first-layer FRI cosets")
    _require_bits(policy.assess(params, params.num_queries, N), min_security_bits)
    if proof.air_id != air.air_id:
        raise VerificationError(f"proof is for AIR {proof.air_id!r}, expected {air.air_id!r}")
    if (proof.trace_length, proof.main_width, proof.aux_width) != (n, air.main_width, air.aux_width):
        raise VerificationError("proof trace shape does not match the AIR")
    chunks = shape.composition_chunks
    if proof.chunks != chunks or chunks >= params.blowup:
        raise VerificationError("wrong number of composition chunks for this AIR and blowup")
    trace_cells = [c for c in shape.frame_cells if c[0] != PUB]
    pub_cells = [c for c in shape.frame_cells if c[0] == PUB]
    if len(proof.ood) != len(trace_cells) + chunks:
        raise VerificationError("wrong number of out-of-domain values")
    try:
        plan = layer_plan(n, N, params)
    except FriError as exc:
        raise VerificationError(str(exc)) from None
    if len(proof.fri.roots) != len(plan):
        raise VerificationError("wrong number of FRI layers")

    # -- transcript replay ------------------------------------------------------------------------
    t = start_transcript(air, params)
    t.absorb("main-root", proof.main_root)
    challenges = t.draw_elements(air.num_aux_challenges)
    if air.aux_width:
        t.absorb("aux-root", proof.aux_root)
    num_row = sum(c for _, c in shape.row_groups)
    alphas = t.draw_elements(shape.num_transition + num_row)
    t.absorb("composition-root", proof.comp_root)
    z = draw_ood_point(t, n, N)
    t.absorb_elements("ood", proof.ood)
    gammas = t.draw_elements(len(trace_cells) + chunks)
    betas = []
    for root in proof.fri.roots:
        t.absorb("fri-layer", root)
        betas.append(t.draw_element())
    t.absorb_elements("fri-remainder", proof.fri.remainder)
    if not t.check_pow(params.grinding_bits, proof.nonce):
        # Every public input is in the transcript, so a proof made for another statement (or altered
        # anywhere before the nonce) usually fails here first.
        raise VerificationError("proof-of-work nonce is invalid: the proof was not made for this statement "
                                "(the transcript binds every public input) or it was altered")
    t.absorb_nonce(proof.nonce)
    positions = t.draw_distinct_indices(params.num_queries, N, cosets)
    report = policy.assess(params, len({p % cosets for p in positions}), N)
    _require_bits(report, min_security_bits)

    # -- 2. out-of-domain consistency -------------------------------------------------------------
    w_n = root_of_unity(n)
    values = {c: v for c, v in zip(trace_cells, proof.ood)}
    pub = air.public_columns()
    weights: dict[int, list[int]] = {}
    for seg, col, off in pub_cells:
        if off not in weights:
            weights[off] = barycentric_weights(n, z * pow(w_n, off, P) % P)
        values[(seg, col, off)] = evaluate_by_weights(pub[col], weights[off])
    frame = DictFrame(values)
    trans = air.transition_constraints(frame, challenges)
    if len(trans) != shape.num_transition:
        raise VerificationError("AIR produced an unexpected number of constraints")
    acc = sum(a * (e % P) for a, e in zip(alphas, trans)) % P
    h_z = acc * inv(pow(z, n, P) - 1) % P
    k = shape.num_transition
    for row, fn in air.row_constraints():
        racc = 0
        for e in fn(frame, challenges):
            racc += alphas[k] * (e % P)
            k += 1
        h_z = (h_z + racc % P * inv(z - pow(w_n, row, P))) % P
    chunk_at_z = proof.ood[len(trace_cells):]
    z_n = pow(z, n, P)
    claimed = sum(c * pow(z_n, j, P) for j, c in enumerate(chunk_at_z)) % P
    if claimed != h_z:
        raise VerificationError("out-of-domain check failed: the constraints do not hold at z")

    # -- 4. openings, DEEP values, FRI ------------------------------------------------------------
    leaves = sorted(set(positions))
    main_rows = _check_opening("main trace", proof.main_open, proof.main_root, N, leaves, air.main_width)
    aux_rows = (_check_opening("aux trace", proof.aux_open, proof.aux_root, N, leaves, air.aux_width)
                if air.aux_width else {j: [] for j in leaves})
    comp_rows = _check_opening("composition", proof.comp_open, proof.comp_root, N, leaves, chunks)
    w_N = root_of_unity(N)
    first = {}
    offs = sorted({c[2] for c in trace_cells})
    shifts = {off: z * pow(w_n, off, P) % P for off in offs}
    xs = {pos: COSET_SHIFT * pow(w_N, pos, P) % P for pos in positions}
    points = list(shifts.items()) + [(None, z)]
    dens = [(xs[pos] - s) % P for pos in positions for _, s in points]
    inv_all = iter(batch_inverse(dens))  # one inversion for all queries and offsets
    for pos in positions:
        inv_den = {off: next(inv_all) for off, _ in points}
        rows = {MAIN: main_rows[pos], AUX: aux_rows[pos]}
        d = 0
        for i, (seg, col, off) in enumerate(trace_cells):
            d += gammas[i] * (rows[seg][col] - proof.ood[i]) % P * inv_den[off]
        inv_z = inv_den[None]
        for j in range(chunks):
            d += gammas[len(trace_cells) + j] * (comp_rows[pos][j] - chunk_at_z[j]) % P * inv_z
        first[pos] = d % P
    try:
        verify_fri(proof.fri, params, n, N, COSET_SHIFT, betas, positions, first)
    except FriError as exc:
        raise VerificationError(str(exc)) from None
    return report


def _require_bits(report: SecurityReport, min_bits: int) -> None:
    if report.bits < min_bits:
        why = "" if report.grinding_counted else " (grinding not counted: query security below the policy's floor)"
        raise VerificationError(f"proof gives {report.bits} bits of conjectured security "
                                f"({report.distinct_query_cosets} distinct query cosets, {report.query_bits} bits "
                                f"from queries){why}, below the required {min_bits}")


def _check_opening(what: str, op: Opening, root: bytes, size: int, leaves: list[int], width: int) -> dict:
    if len(op.rows) != len(leaves) or any(len(r) != width for r in op.rows):
        raise VerificationError(f"{what} opening has the wrong shape")
    data = {j: b"".join(to_bytes(v) for v in row) for j, row in zip(leaves, op.rows)}
    if not merkle_verify(root, size, data, op.auth):
        raise VerificationError(f"{what} Merkle opening does not match its commitment")
    return dict(zip(leaves, op.rows))
