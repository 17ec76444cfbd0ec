import random

import pytest

from zk_pipeline.stark.field import P
from zk_pipeline.stark.fri import FriError, FriProof, FriProver, verify_fri
from zk_pipeline.stark.fvec import FVec
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
    values = evals.tolist()
    first = {q: values[q] for q in pos}
    verify_fri(proof, params, degree_bound, lde_size, COSET_SHIFT, betas, pos, first)
    return proof


@pytest.mark.parametrize("k", [2, 4, 8])
def test_fri_accepts_low_degree(k):
    rng = random.Random(k)
    n, blowup = 256, 8
    params = ProofParams(blowup=blowup, num_queries=20, grinding_bits=0, fri_folding_factor=k,
                         fri_remainder_max_degree=7)
    evals = coset_evaluate(FVec.of([rng.randrange(P) for _ in range(n)]), n * blowup)
    proof = run_fri(evals, params, n, n * blowup)
    assert len(proof.remainder) <= 8


def test_fri_rejects_a_function_that_is_not_low_degree():
    rng = random.Random(5)
    n, blowup = 256, 8
    params = ProofParams(blowup=blowup, num_queries=20, grinding_bits=0, fri_folding_factor=4,
                         fri_remainder_max_degree=7)
    values = coset_evaluate(FVec.of([rng.randrange(P) for _ in range(n)]), n * blowup).tolist()
    # corrupt 30% of the evaluations: far from every polynomial of degree < n
    for i in rng.sample(range(n * blowup), n * blowup * 3 // 10):
        values[i] = rng.randrange(P)
    evals = FVec.of(values)
    with pytest.raises(FriError):
        run_fri(evals, params, n, n * blowup, self_check=False)
    # and a degree-2n polynomial (too high by a factor of two)
    high = coset_evaluate(FVec.of([rng.randrange(P) for _ in range(2 * n)]), n * blowup)
    with pytest.raises(FriError):
        run_fri(high, params, n, n * blowup, self_check=False)
    with pytest.raises(FriError):  # the honest prover refuses outright
        run_fri(high, params, n, n * blowup)
