"""Hostile bytes never crash or hang the decoder or the verifier."""

import random
import time

import pytest

from zk_pipeline.circuits.allocation import prove_statement, verify_statement
from zk_pipeline.stark.proof import MAGIC, Proof, ProofFormatError

from .helpers import FAST, random_statement


@pytest.fixture(scope="module")
def case():
    stmt = random_statement(3, window=16, util=4)
    return stmt, prove_statement(stmt, FAST).proof_bytes


def test_roundtrip_is_stable(case):
    _, data = case
    p = Proof.from_bytes(data)
    assert p.to_bytes() == data and p.hash() == Proof.from_bytes(p.to_bytes()).hash()
    assert data.startswith(MAGIC)


def test_random_and_truncated_bytes_give_clear_errors(case):
    stmt, data = case
    rng = random.Random(0)
    blobs = [b"", b"ZKPSTARK", MAGIC + b"\x00\x02", data[:-1], data + b"\x00", data[: len(data) // 2],
             bytes(rng.randrange(256) for _ in range(5000)), MAGIC + bytes(rng.randrange(256) for _ in range(3000))]
    blobs += [data[: rng.randrange(len(data))] for _ in range(20)]
    t0 = time.perf_counter()
    for blob in blobs:
        with pytest.raises(ProofFormatError) as exc:
            Proof.from_bytes(blob)
        assert str(exc.value)
        res = verify_statement(stmt, blob, min_security_bits=0)
        assert not res.valid and res.reason.startswith("malformed proof")
    assert time.perf_counter() - t0 < 5


def test_hostile_counts_do_not_allocate_or_hang(case):
    stmt, data = case
    spans = dict((name, (s, e)) for name, s, e in Proof.layout(data))
    start = spans["ood values"][0]
    huge = data[:start] + b"\xff\xff\xff\xff" + data[start + 4:]
    t0 = time.perf_counter()
    with pytest.raises(ProofFormatError, match="claims"):
        Proof.from_bytes(huge)
    s = spans["main opening"][0]
    with pytest.raises(ProofFormatError):
        Proof.from_bytes(data[:s] + b"\xff\xff" + data[s + 2:])
    # a header asking for absurd parameters / sizes
    for pos, val in [(len(MAGIC), 9), (len(MAGIC) + 2 + 2 + len("zk-pipeline/allocation-air/v1"), 0)]:
        b = bytearray(data)
        b[pos] = val
        assert not verify_statement(stmt, bytes(b), min_security_bits=0).valid
    assert time.perf_counter() - t0 < 2


def test_verify_statement_never_raises_on_non_bytes(case):
    stmt, _ = case
    res = verify_statement(stmt, "not bytes", min_security_bits=0)  # type: ignore[arg-type]
    assert not res.valid


_CACHE: dict = {}


def _small_case():
    if "case" not in _CACHE:
        stmt = random_statement(4, window=16, util=4)
        _CACHE["case"] = (stmt, prove_statement(stmt, FAST).proof_bytes)
    return _CACHE["case"]


from hypothesis import HealthCheck, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits=st.lists(st.tuples(st.integers(0, 10**9), st.integers(1, 255)), min_size=1, max_size=4),
       cut=st.one_of(st.none(), st.integers(0, 10**9)))
def test_random_mutations_never_crash(edits, cut):
    stmt, data = _small_case()
    b = bytearray(data)
    for pos, x in edits:
        b[pos % len(b)] ^= x
    if cut is not None:
        b = b[: cut % len(b)]
    assume(bytes(b) != data)
    res = verify_statement(stmt, bytes(b), min_security_bits=0)
    assert not res.valid and res.reason
