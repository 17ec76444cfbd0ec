"""Proof parameters, the security policy, and the security a proof actually has.

Conjectured security follows the ethSTARK rule (ethSTARK documentation,
"measuring security"; eprint 2021/582), with Winterfell's refinement that
grinding only counts on top of adequate query security
(``GRINDING_CONTRIBUTION_FLOOR = 80`` in winter-air)::

    query_bits = log2(blowup) * distinct_cosets
    bits = min(query_bits + (grinding if query_bits >= min_query_bits else 0),
               log2(p) - log2(N),      # algebraic challenges drawn from F (N = LDE size)
               128)                    # collision resistance of BLAKE2s-256

``distinct_cosets`` counts the first-layer FRI cosets the queries open: two
positions in one coset open and fold identically, so they are one query. The
transcript draws the positions in distinct cosets, so a proof has exactly
``num_queries`` of them; the verifier still counts them itself.

:class:`SecurityPolicy` is what a verifier accepts at all (``docs/stark.md``
gives the reasons for each bound); the hard ``MAX_*`` caps only bound the work
a hostile proof can ask for before any check.
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
    #: Number of FRI queries, each in its own first-layer coset.
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

    def security_bits(self, lde_size: int | None = None, policy: "SecurityPolicy | None" = None) -> int:
        """Bits of a proof with these parameters (its queries are in distinct cosets by construction)."""
        return (policy or SECURITY_POLICY).security_bits(self, self.num_queries, lde_size)


#: Collision resistance of the commitment and transcript hash (BLAKE2s, 256-bit digests).
HASH_COLLISION_BITS = 128


@dataclass(frozen=True)
class SecurityPolicy:
    """Which parameter sets a verifier accepts, and how their security is counted."""

    #: Grinding counts only once the queries alone give this many bits.
    min_query_bits: int = 80
    blowups: tuple[int, ...] = (4, 8, 16)
    folding_factors: tuple[int, ...] = (2, 4, 8)
    max_grinding_bits: int = 20

    def problems(self, params: ProofParams) -> list[str]:
        out = []
        if params.blowup not in self.blowups:
            out.append(f"blowup {params.blowup} is outside the policy {list(self.blowups)}")
        if params.fri_folding_factor not in self.folding_factors:
            out.append(f"FRI folding factor {params.fri_folding_factor} is outside the policy "
                       f"{list(self.folding_factors)}")
        if params.grinding_bits > self.max_grinding_bits:
            out.append(f"{params.grinding_bits} grinding bits exceed the policy's {self.max_grinding_bits}")
        return out

    def check(self, params: ProofParams) -> None:
        bad = self.problems(params)
        if bad:
            raise ParamsError("proof parameters refused by the security policy: " + "; ".join(bad))

    def query_bits(self, params: ProofParams, distinct_cosets: int) -> float:
        return math.log2(params.blowup) * distinct_cosets

    def security_bits(self, params: ProofParams, distinct_cosets: int, lde_size: int | None = None) -> int:
        query = self.query_bits(params, distinct_cosets)
        bits = query + (params.grinding_bits if query >= self.min_query_bits else 0)
        field_cap = math.log2(P) - (math.log2(lde_size) if lde_size else 32)
        return int(math.floor(min(bits, field_cap, HASH_COLLISION_BITS)))

    def assess(self, params: ProofParams, distinct_cosets: int, lde_size: int | None = None) -> "SecurityReport":
        query = self.query_bits(params, distinct_cosets)
        return SecurityReport(self.security_bits(params, distinct_cosets, lde_size), distinct_cosets,
                              int(math.floor(query)), query >= self.min_query_bits)

    def to_dict(self) -> dict:
        return {"min_query_bits": self.min_query_bits, "blowups": list(self.blowups),
                "folding_factors": list(self.folding_factors), "max_grinding_bits": self.max_grinding_bits}


@dataclass(frozen=True)
class SecurityReport:
    """What a verified proof has: the bits it reports are computed from its distinct query cosets."""

    bits: int
    distinct_query_cosets: int
    query_bits: int
    grinding_counted: bool


#: The policy every verifier of this project applies (``docs/stark.md``, "Security").
SECURITY_POLICY = SecurityPolicy()
#: Same accounting, every parameter the proof format can carry: for tests of the generic library only.
HARD_LIMITS_POLICY = SecurityPolicy(blowups=tuple(2**i for i in range(1, MAX_BLOWUP.bit_length())),
                                    folding_factors=FOLDING_FACTORS, max_grinding_bits=MAX_GRINDING_BITS)


#: Default: 2 * 40 + 16 = 96 bits (80 from queries). Blowup 4 halves the prover's domain (its dominant cost).
DEFAULT_PARAMS = ProofParams()
#: Smaller proofs, twice the prover work: 3 * 27 + 16 = 97 bits (81 from queries).
COMPACT_PARAMS = ProofParams(blowup=8, num_queries=27, grinding_bits=16, fri_folding_factor=4,
                             fri_remainder_max_degree=31)
#: For unit tests: cheap, deliberately insecure (the verifier is told to accept less).
TEST_PARAMS = ProofParams(blowup=8, num_queries=8, grinding_bits=2, fri_folding_factor=4, fri_remainder_max_degree=7)
