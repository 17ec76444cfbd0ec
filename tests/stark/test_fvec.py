"""The prover's field vectors: both backends against plain integer arithmetic, and whole proofs."""

import os
import random
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tests.stark.helpers import FAST, ROOT, random_statement
from zk_pipeline.stark import fvec
from zk_pipeline.stark.field import P, inv, root_of_unity
from zk_pipeline.stark.fvec import FVec
from zk_pipeline.stark.poly import barycentric_weights, barycentric_weights_vec, evaluate

#: values where carries, borrows and the final subtraction of p happen
EDGES = [0, 1, 2, P - 1, P - 2, P // 2, P // 2 + 1, 2**64 - 1, 2**64, 2**128 - 1, 2**192, 2**251, 2**251 + 1,
         2**250, 17 * 2**192, P - 2**192]
elements = st.one_of(st.sampled_from(EDGES), st.integers(0, P - 1))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(elements, elements), min_size=1, max_size=40))
def test_elementwise_ops_match_integers(pairs):
    a, b = [x for x, _ in pairs], [y for _, y in pairs]
    for ops in (fvec._NativeOps, fvec._PythonOps):
        A, B = FVec.of(a, ops), FVec.of(b, ops)
        assert (A + B).tolist() == [(x + y) % P for x, y in zip(a, b)]
        assert (A - B).tolist() == [(x - y) % P for x, y in zip(a, b)]
        assert (A * B).tolist() == [x * y % P for x, y in zip(a, b)]
        assert (b[0] - A).tolist() == [(b[0] - x) % P for x in a]
        assert (A * -b[0]).tolist() == [x * -b[0] % P for x in a]
        assert (-A).tolist() == [-x % P for x in a]


def test_construction_reduces_any_integer(field_ops):
    raw = [-1, -P, P, P + 5, 2**256 - 1, 2**300 + 7, -(2**255)]
    assert FVec.of(raw, field_ops).tolist() == [x % P for x in raw]
    for empty in ([], [[]] * 3, np.zeros((0, 8), dtype=object)):
        assert FVec.of(empty, field_ops).shape == np.shape(empty)
    assert FVec.of(7, field_ops).tolist() == 7
    mixed = [[0, 1, 2**64 - 1], [2**64, -3, 7], [5, 6, 2**63]]  # one-limb rows take NumPy's fast path
    assert FVec.of(mixed, field_ops).tolist() == [[x % P for x in r] for r in mixed]


def test_bulk_operations_match_integers(field_ops):
    rng = random.Random(11)
    rows = [[rng.randrange(P) for _ in range(64)] for _ in range(5)]
    rows[0][:len(EDGES)] = [e % P for e in EDGES]
    m = FVec.of(rows, field_ops)
    coeffs = [rng.randrange(P) for _ in range(5)]
    assert m.combine(coeffs).tolist() == [sum(c * r[i] for c, r in zip(coeffs, rows)) % P for i in range(64)]
    assert m[1].dot(m[2]) == sum(x * y for x, y in zip(rows[1], rows[2])) % P
    nz = [x or 1 for x in rows[0]]
    assert FVec.of(nz, field_ops).inverse().tolist() == [inv(x) for x in nz]
    assert FVec.powers(7, 20, start=3, ops=field_ops).tolist() == [3 * pow(7, i, P) % P for i in range(20)]
    assert m.roll(-3).tolist() == [r[3:] + r[:3] for r in rows]
    assert (m * m[0]).tolist() == [[x * y % P for x, y in zip(r, rows[0])] for r in rows]  # row broadcast
    assert FVec.interleave([m[0], m[1]]).tolist() == [v for pair in zip(rows[0], rows[1]) for v in pair]
    assert m[:, [0, 5]].tolist() == [[r[0], r[5]] for r in rows]
    leaves = m.leaf_bytes()
    assert leaves[9] == b"".join(r[9].to_bytes(32, "big") for r in rows)


def test_ntt_is_evaluation_on_the_subgroup(field_ops):
    rng = random.Random(5)
    coeffs = [[rng.randrange(P) for _ in range(32)] for _ in range(3)]
    w = root_of_unity(32)
    got = FVec.of(coeffs, field_ops).ntt().tolist()
    assert got == [[evaluate(c, pow(w, i, P)) for i in range(32)] for c in coeffs]
    back = FVec.of(got, field_ops).ntt(inverse=True).tolist()
    assert back == [[x * 32 % P for x in c] for c in coeffs]  # unscaled inverse


def test_errors_are_clear(field_ops):
    with pytest.raises(ZeroDivisionError):
        FVec.of([3, 0, 5], field_ops).inverse()
    with pytest.raises(ValueError, match="shapes differ"):
        FVec.of([1, 2, 3], field_ops) + FVec.of([1, 2], field_ops)
    with pytest.raises(ValueError, match="power of two"):
        FVec.of([1, 2, 3], field_ops).ntt()


def test_barycentric_weights_agree():
    z = random.Random(2).randrange(P)
    assert barycentric_weights_vec(64, z).tolist() == barycentric_weights(64, z)


def _proof_hash(backend: str) -> str:
    """Prove a small statement in a fresh process with the given backend; return the proof's hash."""
    code = (
        "from tests.stark.helpers import FAST, random_statement\n"
        "from zk_pipeline.circuits.allocation import prove_statement\n"
        "from zk_pipeline.stark.fvec import BACKEND\n"
        "art = prove_statement(random_statement(3), FAST)\n"
        "print(BACKEND, art.proof_hash)\n"
    )
    env = {**os.environ, "ZKP_FIELD_BACKEND": backend}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                         check=True, timeout=300)
    name, digest = out.stdout.split()
    assert name == backend
    return digest


def test_both_backends_make_the_same_proof():
    """The backend is an implementation detail: the proof bytes must not depend on it."""
    native, python = _proof_hash("native"), _proof_hash("python")
    assert native == python
    from zk_pipeline.circuits.allocation import prove_statement

    assert prove_statement(random_statement(3), FAST).proof_hash == native  # this process: native


def test_block_wise_composition_gives_the_same_proof(monkeypatch):
    """Large traces evaluate the composition in blocks (bounded memory); the proof must not change."""
    from zk_pipeline.stark import prover
    from zk_pipeline.circuits.allocation import prove_statement

    stmt = random_statement(4)
    whole = prove_statement(stmt, FAST).proof_hash
    monkeypatch.setattr(prover, "COMPOSITION_BLOCK", 256)  # many blocks, several wrapping around the coset
    assert prove_statement(stmt, FAST).proof_hash == whole
