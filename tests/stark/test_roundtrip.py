"""Valid proofs always verify: across statements and across proof parameters."""

import pytest

from zk_pipeline.circuits.allocation import prove_statement, verify_statement
from zk_pipeline.stark.params import HARD_LIMITS_POLICY, ProofParams
from zk_pipeline.stark.prover import prove
from zk_pipeline.stark.toy_airs import FibonacciAir, RangeCheckAir
from zk_pipeline.stark.verifier import verify

from .helpers import FAST, random_statement, replay_statement


@pytest.mark.parametrize("stmt_factory", [
    lambda: random_statement(101, window=24, util=6, wild=True),
    lambda: random_statement(102, window=9, util=3),
    lambda: replay_statement(1200, window=32, util=4),
], ids=["wild", "tiny-window", "replay"])
def test_valid_statement_proofs_verify(stmt_factory):
    stmt = stmt_factory()
    art = prove_statement(stmt, FAST)
    res = verify_statement(stmt, art.proof_bytes, min_security_bits=0)
    assert res.valid, res.reason
    assert res.security_bits == art.security_bits == FAST.security_bits(art.trace_rows * FAST.blowup)


@pytest.mark.parametrize("params", [
    ProofParams(blowup=2, num_queries=30, grinding_bits=0, fri_folding_factor=2, fri_remainder_max_degree=0),
    ProofParams(blowup=4, num_queries=20, grinding_bits=3, fri_folding_factor=8, fri_remainder_max_degree=3),
    ProofParams(blowup=16, num_queries=10, grinding_bits=1, fri_folding_factor=16, fri_remainder_max_degree=63),
    ProofParams(blowup=8, num_queries=5, grinding_bits=0, fri_folding_factor=4, fri_remainder_max_degree=255),
])
def test_generic_prover_over_parameter_space(params):
    """The library proves and verifies any parameter set the format carries (the policy is a separate check)."""
    trace, result = FibonacciAir.trace(128)
    proof = prove(FibonacciAir(128, result), trace, params)
    report = verify(FibonacciAir(128, result), proof, min_security_bits=0, policy=HARD_LIMITS_POLICY)
    assert report.bits == params.security_bits(128 * params.blowup, HARD_LIMITS_POLICY)
    assert report.distinct_query_cosets == params.num_queries


def test_range_check_air_with_folding_2():
    params = ProofParams(blowup=4, num_queries=16, grinding_bits=0, fri_folding_factor=2, fri_remainder_max_degree=1)
    air = RangeCheckAir(list(range(0, 65536, 97)), 1024)
    assert verify(RangeCheckAir(list(range(0, 65536, 97)), 1024), prove(air, air.trace(), params), 0).bits == 32
