"""The allocation statement as an AIR ("these features, risk scores and allocation are what the model computes").

* :mod:`.layout`  main and public columns;
* :mod:`.public`  the statement's public data, bound-checked for the AIR;
* :mod:`.tail`    the tail block's slot allocator and gadgets;
* :mod:`.program` the model after the returns, as constraints on the tail;
* :mod:`.air`     the AIR (returns rows, tail, LogUp range checks, witness);
* :mod:`.proving` ``prove_statement`` / ``verify_statement``.

docs/stark.md ("The AIR") derives the constraints.
"""

from __future__ import annotations

from collections.abc import Mapping

from zk_pipeline.circuits.allocation.air import AIR_ID, AIR_VERSION
from zk_pipeline.circuits.allocation.proving import (
    ProofError, StatementProof, VerificationResult, prove_statement, verify_statement,
)
from zk_pipeline.settings import get_settings, load_settings
from zk_pipeline.stark import fvec


def select_field_backend(env: Mapping[str, str] | None = None) -> str:
    """Apply ``ZKP_FIELD_BACKEND`` (``python`` forces the pure-Python arithmetic) to the prover; returns its name.

    The stark library reads no configuration; the project chooses for it, once, before anything is proven.
    """
    return fvec.use_backend((get_settings() if env is None else load_settings(env)).stark.field_backend)


#: The field arithmetic the prover runs on (``native`` or ``python``), chosen when this package is first imported.
FIELD_BACKEND = select_field_backend()

__all__ = [
    "AIR_ID", "AIR_VERSION", "FIELD_BACKEND", "ProofError", "StatementProof", "VerificationResult",
    "prove_statement", "select_field_backend", "verify_statement",
]
