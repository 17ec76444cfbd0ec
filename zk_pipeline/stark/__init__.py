"""A STARK prover and verifier for any AIR, in plain Python (with optional C field kernels).

Read it in this order — each module's docstring explains its part:

* :mod:`field`      the Stark field ``p = 2^251 + 17 * 2^192 + 1`` and why;
* :mod:`fvec`       vectors of field elements (native or pure-Python backend);
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
* :mod:`toy_airs`   two tiny AIRs the tests prove.

The library imports nothing else from the project: the statements it proves are
written as AIRs in :mod:`zk_pipeline.circuits`.
"""

from zk_pipeline.stark.params import COMPACT_PARAMS, DEFAULT_PARAMS, ProofParams

__all__ = ["COMPACT_PARAMS", "DEFAULT_PARAMS", "ProofParams"]
