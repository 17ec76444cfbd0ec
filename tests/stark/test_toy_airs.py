import random

import numpy as np
import pytest

from zk_pipeline.stark.params import TEST_PARAMS
from zk_pipeline.stark.proof import Proof
from zk_pipeline.stark.prover import ProvingError, prove
from zk_pipeline.stark.toy_airs import FibonacciAir, RangeCheckAir
from zk_pipeline.stark.verifier import VerificationError, verify


def test_fibonacci_roundtrip_and_wrong_result():
    trace, result = FibonacciAir.trace(64)
    proof = prove(FibonacciAir(64, result), trace, TEST_PARAMS)
    again = Proof.from_bytes(proof.to_bytes())
    assert verify(FibonacciAir(64, result), again, min_security_bits=0).bits == 3 * 8
    with pytest.raises(VerificationError):
        verify(FibonacciAir(64, result + 1), again, min_security_bits=0)


def test_fibonacci_dishonest_trace_is_rejected():
    trace, result = FibonacciAir.trace(64)
    trace[1, 10] += 1
    # the self-check (the composition's degree test) refuses and names the failing constraint rows
    with pytest.raises(ProvingError, match=r"does not satisfy the AIR: transition constraint \d+ fails on rows"):
        prove(FibonacciAir(64, result), trace, TEST_PARAMS)
    proof = prove(FibonacciAir(64, result), trace, TEST_PARAMS, self_check=False)
    with pytest.raises(VerificationError):
        verify(FibonacciAir(64, result), proof, min_security_bits=0)


def test_logup_range_check_accepts_bytes_and_rejects_an_out_of_range_limb():
    rng = random.Random(2)
    vals = [rng.randrange(2**16) for _ in range(200)]
    air = RangeCheckAir(vals, 256)
    proof = prove(air, air.trace(), TEST_PARAMS)
    assert verify(RangeCheckAir(vals, 256), proof, min_security_bits=0)
    # a "limb" of 256 + its compensation: the decomposition equation still holds
    bad_vals = list(vals)
    bad_vals[0] = 256 * 3 + 5
    bad = RangeCheckAir(bad_vals, 256)
    tr = bad.trace()
    tr[1, 0], tr[2, 0] = 256 + 5, 2  # lo = 261 is not a byte; 261 + 256*2 = 773
    counts = np.zeros(256, dtype=np.int64)
    for v in list(tr[1]) + list(tr[2]):
        if v < 256:
            counts[v] += 1
    tr[3, :256] = counts.tolist()
    with pytest.raises((ProvingError, ValueError)):
        prove(bad, tr, TEST_PARAMS)
    proof = prove(bad, tr, TEST_PARAMS, self_check=False)
    with pytest.raises(VerificationError):
        verify(RangeCheckAir(bad_vals, 256), proof, min_security_bits=0)
