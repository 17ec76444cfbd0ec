import random

import numpy as np
import pytest

from zk_pipeline.stark.field import P, batch_inverse, from_bytes, inv, root_of_unity, to_bytes, vec
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
def test_ntt_matches_naive_evaluation(n):
    rng = random.Random(n)
    c = vec(rng.randrange(P) for _ in range(n))
    e = ntt(c)
    w = root_of_unity(n) if n > 1 else 1
    assert [int(v) for v in e] == [evaluate(c, pow(w, i, P)) for i in range(n)]
    assert list(interpolate(e)) == list(c)


def test_ntt_on_matrix_and_coset():
    rng = random.Random(7)
    m = np.array([[rng.randrange(P) for _ in range(16)] for _ in range(3)], dtype=object)
    lde = coset_evaluate(m, 64)
    d = domain(64, COSET_SHIFT)
    for row, ev in zip(m, lde):
        assert [int(v) for v in ev] == [evaluate(row, x) for x in d]
        back = coset_interpolate(ev)
        assert list(back[:16]) == list(row) and not any(back[16:])


def test_barycentric_matches_horner():
    rng = random.Random(3)
    c = vec(rng.randrange(P) for _ in range(32))
    z = rng.randrange(P)
    assert evaluate_by_weights(ntt(c), barycentric_weights(32, z)) == evaluate(c, z)
