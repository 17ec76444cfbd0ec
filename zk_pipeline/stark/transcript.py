"""Fiat-Shamir transcript over BLAKE2s-256.

The transcript is a 32-byte state ``s``. Absorbing a labelled message sets
``s = H("absorb" || s || len(label) || label || len(msg) || msg)``: lengths make
the encoding injective, labels keep messages of different kinds apart.
Challenges are squeezed as ``H("squeeze" || s || counter)`` and every squeeze
also updates the state, so no challenge is ever drawn twice.

Prover and verifier run the identical sequence of calls (public inputs, each
commitment, out-of-domain values, FRI roots, the last layer, the proof-of-work
nonce); any difference in what was absorbed changes every later challenge.
"""

from __future__ import annotations

from hashlib import blake2s
from typing import Iterable

from zk_pipeline.stark.field import P, to_bytes


class Transcript:
    def __init__(self, domain_separator: bytes):
        self.state = blake2s(b"zk-pipeline/stark/transcript/v1" + domain_separator).digest()
        self._counter = 0

    def absorb(self, label: str, data: bytes) -> None:
        lb = label.encode()
        self.state = blake2s(
            b"absorb" + self.state + len(lb).to_bytes(2, "big") + lb + len(data).to_bytes(8, "big") + data
        ).digest()
        self._counter = 0

    def absorb_elements(self, label: str, elements: Iterable[int]) -> None:
        self.absorb(label, b"".join(to_bytes(int(x)) for x in elements))

    def _squeeze(self) -> bytes:
        out = blake2s(b"squeeze" + self.state + self._counter.to_bytes(8, "big")).digest()
        self._counter += 1
        return out

    def draw_element(self) -> int:
        """A field element: 512 hash bits reduced mod ``p`` (bias < 2**-260)."""
        x = int.from_bytes(self._squeeze() + self._squeeze(), "big") % P
        self.absorb("drawn", to_bytes(x))
        return x

    def draw_elements(self, count: int) -> list[int]:
        return [self.draw_element() for _ in range(count)]

    def draw_distinct_indices(self, count: int, bound: int, classes: int | None = None) -> list[int]:
        """``count`` integers in ``[0, bound)``, pairwise distinct modulo ``classes`` (default ``bound``).

        FRI queries use ``classes = bound / folding factor``: positions equal modulo it lie in one
        first-layer coset, open the same leaves and fold to the same points, so they would count once.
        Each draw is uniform over the positions whose class is still free.
        """
        classes = bound if classes is None else classes
        if bound & (bound - 1) or classes & (classes - 1) or not 0 < classes <= bound or count > classes:
            raise ValueError("query bound and classes must be powers of two, classes <= bound, "
                             "and at least as many classes as queries")
        chosen: list[int] = []
        seen: set[int] = set()
        while len(chosen) < count:
            x = int.from_bytes(self._squeeze(), "big") % bound  # bound | 2**256: unbiased
            if x % classes not in seen:
                seen.add(x % classes)
                chosen.append(x)
        self.absorb("queries", b"".join(i.to_bytes(8, "big") for i in chosen))
        return chosen

    # -- proof of work ----------------------------------------------------------------------------
    def _pow_prefix(self, bits: int) -> bytes:
        return b"pow" + self.state + bits.to_bytes(1, "big")

    @staticmethod
    def _leading_zeros(digest: bytes) -> int:
        v = int.from_bytes(digest, "big")
        return 256 - v.bit_length()

    def grind(self, bits: int) -> int:
        """The smallest nonce whose hash with the state has ``bits`` leading zero bits."""
        prefix = self._pow_prefix(bits)
        base = blake2s(prefix)
        nonce = 0
        threshold = 1 << (256 - bits)
        while True:
            h = base.copy()
            h.update(nonce.to_bytes(8, "big"))
            if int.from_bytes(h.digest(), "big") < threshold:
                return nonce
            nonce += 1

    def check_pow(self, bits: int, nonce: int) -> bool:
        if not 0 <= nonce < 2**64:
            return False
        digest = blake2s(self._pow_prefix(bits) + nonce.to_bytes(8, "big")).digest()
        return self._leading_zeros(digest) >= bits

    def absorb_nonce(self, nonce: int) -> None:
        self.absorb("pow-nonce", nonce.to_bytes(8, "big"))
