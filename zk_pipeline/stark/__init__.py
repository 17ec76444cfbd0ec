"""A STARK prover and verifier for the allocation statement, in plain Python.

Read it in this order — each module's docstring explains its part:

* :mod:`field`      the Stark field ``p = 2^251 + 17 * 2^192 + 1`` and why;
* :mod:`poly`       NTT, coset low-degree extension, barycentric evaluation;
* :mod:`merkle`     BLAKE2s Merkle trees with multi-openings;
* :mod:`transcript` Fiat-Shamir and proof-of-work grinding;
* :mod:`air`        the generic AIR interface (transition and row constraints,
  main/aux/public columns, automatic frame and degree inference);
* :mod:`logup`      byte range checks with a LogUp argument;
* :mod:`fri`        the FRI low-degree test;
* :mod:`params`     proof parameters and conjectured security;
* :mod:`proof`      the proof object and its versioned binary encoding;
* :mod:`prover`, :mod:`verifier`  the protocol, generic over any AIR;
* :mod:`allocation_air` the statement's AIR (features -> risk -> allocation);
* :mod:`api`        ``prove_statement`` / ``verify_statement``.

Nothing here depends on Dagster or the database.
"""

from zk_pipeline.stark.allocation_air import AIR_ID
from zk_pipeline.stark.api import ProofArtifact, ProofError, VerificationResult, prove_statement, verify_statement
from zk_pipeline.stark.params import COMPACT_PARAMS, DEFAULT_PARAMS, ProofParams

#: Version of :data:`AIR_ID` on its own, for deriving a program hash.
AIR_VERSION = 1

__all__ = [
    "AIR_ID", "AIR_VERSION", "COMPACT_PARAMS", "DEFAULT_PARAMS", "ProofArtifact", "ProofError", "ProofParams",
    "VerificationResult", "prove_statement", "verify_statement",
]
