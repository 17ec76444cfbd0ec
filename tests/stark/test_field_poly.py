import random

import pytest

from zk_pipeline.stark.field import P, batch_inverse, from_bytes, inv, root_of_unity, to_bytes
from zk_pipeline.stark.fvec import FVec
from zk_pipeline.stark.poly import (
    COSET_SHIFT, barycentric_weights, coset_evaluate, coset_interpolate, domain, evaluate, evaluate_by_weights,
    interpolate, ntt,
)


def test_field_basics():
    assert (P - 1) % 2**192 == 0 and pow(3, (P - 1) // 2, P) == P - 1  # 3 is a non-residue
    x = random.Random(1).randrange(1, P)
    assert x * inv(x) % P == 1
    with pytest.raises(ZeroDivisionError):
        inv(0)
    xs = [random.Random(i).randrange(1, P) for i in range(20)]
    assert batch_inverse(xs) == [inv(v) for v in xs]
    w = root_of_unity(1024)
    assert pow(w, 1024, P) == 1 and pow(w, 512, P) != 1
    assert from_bytes(to_bytes(x)) == x
    with pytest.raises(ValueError):
        from_bytes(P.to_bytes(32, "big"))


@pytest.mark.parametrize("n", [1, 2, 8, 64])
def test_ntt_matches_naive_evaluation(n, field_ops):
    rng = random.Random(n)
    coeffs = [rng.randrange(P) for _ in range(n)]
    e = ntt(FVec.of(coeffs, field_ops))
    w = root_of_unity(n) if n > 1 else 1
    assert e.tolist() == [evaluate(coeffs, pow(w, i, P)) for i in range(n)]
    assert interpolate(e).tolist() == coeffs


def test_ntt_on_matrix_and_coset(field_ops):
    rng = random.Random(7)
    m = [[rng.randrange(P) for _ in range(16)] for _ in range(3)]
    lde = coset_evaluate(FVec.of(m, field_ops), 64)
    d = domain(64, COSET_SHIFT).tolist()
    for row, ev in zip(m, lde):
        assert ev.tolist() == [evaluate(row, x) for x in d]
        back = coset_interpolate(ev).tolist()
        assert back[:16] == row and not any(back[16:])


def test_barycentric_matches_horner(field_ops):
    rng = random.Random(3)
    c = [rng.randrange(P) for _ in range(32)]
    z = rng.randrange(P)
    assert evaluate_by_weights(ntt(FVec.of(c, field_ops)).tolist(), barycentric_weights(32, z)) == evaluate(c, z)
