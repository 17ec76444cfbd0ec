"""Proof parameters and the security they buy.

Conjectured security — the rule of the ethSTARK paper and code ("measuring
security"), reported the same way by winterfell and Stone — of a proof with
blowup ``b``, ``q`` FRI queries and ``g`` bits of grinding::

    bits = min(log2(b) * q + g,            # FRI queries + proof of work
               log2(p) - log2(N),          # algebraic challenges drawn from F (N = LDE size)
               128)                        # collision resistance of BLAKE2s-256

With the 251-bit field and a 256-bit hash only the first term ever binds here.
The verifier recomputes the number from the parameters carried in the proof
and refuses the proof when it is below its configured minimum (96 by default).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from zk_pipeline.stark.field import P

#: Hard bounds a verifier accepts before doing any work (hostile proofs cannot
#: ask for huge domains or endless proof-of-work).
MAX_BLOWUP = 64
MAX_QUERIES = 255
MAX_GRINDING_BITS = 32
FOLDING_FACTORS = (2, 4, 8, 16)
MAX_REMAINDER_DEGREE = 1023


class ParamsError(ValueError):
    pass


@dataclass(frozen=True)
class ProofParams:
    #: LDE blowup factor (rate ``1/blowup``); must exceed the composition's chunk count.
    blowup: int = 4
    #: Number of FRI query positions (distinct).
    num_queries: int = 40
    #: Proof-of-work bits ground before the queries are drawn.
    grinding_bits: int = 16
    #: FRI folding factor (domain shrinks by this per layer).
    fri_folding_factor: int = 4
    #: The FRI last layer is sent as a polynomial of degree at most this (in the clear).
    fri_remainder_max_degree: int = 31

    def __post_init__(self) -> None:
        problems = []
        if self.blowup < 2 or self.blowup > MAX_BLOWUP or self.blowup & (self.blowup - 1):
            problems.append(f"blowup must be a power of two in 2..{MAX_BLOWUP}")
        if not 1 <= self.num_queries <= MAX_QUERIES:
            problems.append(f"num_queries must be in 1..{MAX_QUERIES}")
        if not 0 <= self.grinding_bits <= MAX_GRINDING_BITS:
            problems.append(f"grinding_bits must be in 0..{MAX_GRINDING_BITS}")
        if self.fri_folding_factor not in FOLDING_FACTORS:
            problems.append(f"fri_folding_factor must be one of {FOLDING_FACTORS}")
        r = self.fri_remainder_max_degree
        if not 0 <= r <= MAX_REMAINDER_DEGREE or (r + 1) & r:
            problems.append(f"fri_remainder_max_degree + 1 must be a power of two <= {MAX_REMAINDER_DEGREE + 1}")
        if problems:
            raise ParamsError("invalid proof parameters: " + "; ".join(problems))

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    def to_bytes(self) -> bytes:
        return bytes([self.blowup, self.num_queries, self.grinding_bits, self.fri_folding_factor]) + (
            self.fri_remainder_max_degree.to_bytes(2, "big")
        )

    def security_bits(self, lde_size: int | None = None) -> int:
        return conjectured_security_bits(self, lde_size)


#: Collision resistance of the commitment and transcript hash (BLAKE2s, 256-bit digests).
HASH_COLLISION_BITS = 128


def conjectured_security_bits(params: ProofParams, lde_size: int | None = None) -> int:
    bits = math.log2(params.blowup) * params.num_queries + params.grinding_bits
    field_cap = math.log2(P) - (math.log2(lde_size) if lde_size else 32)
    return int(math.floor(min(bits, field_cap, HASH_COLLISION_BITS)))


#: Default: 2 * 40 + 16 = 96 bits. Blowup 4 halves the prover's domain (its dominant cost).
DEFAULT_PARAMS = ProofParams()
#: Smaller proofs (~25% less), twice the prover work: 3 * 27 + 16 = 97 bits.
COMPACT_PARAMS = ProofParams(blowup=8, num_queries=27, grinding_bits=16, fri_folding_factor=4,
                             fri_remainder_max_degree=31)
#: For unit tests: cheap, deliberately insecure (the verifier is told to accept less).
TEST_PARAMS = ProofParams(blowup=8, num_queries=8, grinding_bits=2, fri_folding_factor=4, fri_remainder_max_degree=7)
