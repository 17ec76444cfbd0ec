import random

from zk_pipeline.stark.merkle import MerkleTree, verify
from zk_pipeline.stark.transcript import Transcript


def leaves(n):
    return [bytes([i % 256, i // 256]) * 5 for i in range(n)]


def test_merkle_multiproof_roundtrip_and_tamper():
    tree = MerkleTree(leaves(64))
    rng = random.Random(0)
    for _ in range(20):
        idx = sorted(set(rng.sample(range(64), rng.randrange(1, 10))))
        proof = tree.open(idx)
        opened = {i: leaves(64)[i] for i in idx}
        assert verify(tree.root, 64, opened, proof)
        bad = dict(opened)
        bad[idx[0]] = b"x" + bad[idx[0]][1:]
        assert not verify(tree.root, 64, bad, proof)
        if proof:
            p2 = list(proof)
            p2[rng.randrange(len(p2))] = b"\x00" * 32
            assert not verify(tree.root, 64, opened, p2)
            assert not verify(tree.root, 64, opened, proof[:-1])
        assert not verify(tree.root, 64, opened, proof + [b"\x00" * 32])  # unused node
        moved = {(i + 1) % 64: v for i, v in opened.items()}
        assert not verify(tree.root, 64, moved, proof) or moved == opened
    assert not verify(tree.root, 64, {64: b""}, [])
    assert not verify(tree.root, 63, {0: leaves(64)[0]}, tree.open([0]))


def test_merkle_single_leaf_tree():
    tree = MerkleTree([b"only"])
    assert tree.open([0]) == [] and verify(tree.root, 1, {0: b"only"}, [])


def test_transcript_is_deterministic_and_binding():
    a, b, c = Transcript(b"t"), Transcript(b"t"), Transcript(b"t")
    for t in (a, b):
        t.absorb("x", b"hello")
    c.absorb("x", b"hellp")
    ea = a.draw_elements(3)
    assert ea == b.draw_elements(3)
    assert ea != c.draw_elements(3)
    assert len(set(ea)) == 3
    d = Transcript(b"t")
    d.absorb("y", b"hello")  # same bytes, other label
    assert d.draw_element() != ea[0]
    q = Transcript(b"q").draw_distinct_indices(50, 64)
    assert len(set(q)) == 50 and all(0 <= i < 64 for i in q)


def test_grinding():
    t = Transcript(b"pow")
    t.absorb("x", b"1")
    nonce = t.grind(10)
    assert t.check_pow(10, nonce)
    assert not t.check_pow(10, nonce + 1) or t.check_pow(10, nonce + 1)  # another nonce may also work
    other = Transcript(b"pow")
    other.absorb("x", b"2")
    hits = sum(other.check_pow(10, n) for n in range(nonce, nonce + 1))
    assert hits <= 1
    assert not t.check_pow(10, -1) and not t.check_pow(10, 2**64)
