import random

import numpy as np
import pytest

from zk_pipeline.stark.field import P
from zk_pipeline.stark.fri import FriError, FriProof, FriProver, verify_fri
from zk_pipeline.stark.params import ProofParams
from zk_pipeline.stark.poly import COSET_SHIFT, coset_evaluate
from zk_pipeline.stark.transcript import Transcript


def run_fri(evals, params, degree_bound, lde_size, self_check=True):
    t = Transcript(b"fri-test")
    fri = FriProver(params, degree_bound, lde_size, COSET_SHIFT)
    roots, remainder = fri.commit(evals, t, self_check=self_check)
    positions = t.draw_distinct_indices(params.num_queries, lde_size)
    proof = FriProof(roots, remainder, fri.open(positions))
    # verifier replay
    v = Transcript(b"fri-test")
    betas = []
    for r in proof.roots:
        v.absorb("fri-layer", r)
        betas.append(v.draw_element())
    v.absorb_elements("fri-remainder", proof.remainder)
    pos = v.draw_distinct_indices(params.num_queries, lde_size)
    assert pos == positions
    first = {q: int(evals[q]) for q in pos}
    verify_fri(proof, params, degree_bound, lde_size, COSET_SHIFT, betas, pos, first)
    return proof


@pytest.mark.parametrize("k", [2, 4, 8])
def test_fri_accepts_low_degree(k):
    rng = random.Random(k)
    n, blowup = 256, 8
    params = ProofParams(blowup=blowup, num_queries=20, grinding_bits=0, fri_folding_factor=k,
                         fri_remainder_max_degree=7)
    coeffs = np.array([rng.randrange(P) for _ in range(n)], dtype=object)
    evals = coset_evaluate(coeffs, n * blowup)
    proof = run_fri(evals, params, n, n * blowup)
    assert len(proof.remainder) <= 8


def test_fri_rejects_a_function_that_is_not_low_degree():
    rng = random.Random(5)
    n, blowup = 256, 8
    params = ProofParams(blowup=blowup, num_queries=20, grinding_bits=0, fri_folding_factor=4,
                         fri_remainder_max_degree=7)
    coeffs = np.array([rng.randrange(P) for _ in range(n)], dtype=object)
    evals = coset_evaluate(coeffs, n * blowup)
    # corrupt 30% of the evaluations: far from every polynomial of degree < n
    for i in rng.sample(range(n * blowup), n * blowup * 3 // 10):
        evals[i] = rng.randrange(P)
    with pytest.raises(FriError):
        run_fri(evals, params, n, n * blowup, self_check=False)
    # and a degree-2n polynomial (too high by a factor of two)
    high = coset_evaluate(np.array([rng.randrange(P) for _ in range(2 * n)], dtype=object), n * blowup)
    with pytest.raises(FriError):
        run_fri(high, params, n, n * blowup, self_check=False)
    with pytest.raises(FriError):  # the honest prover refuses outright
        run_fri(high, params, n, n * blowup)
