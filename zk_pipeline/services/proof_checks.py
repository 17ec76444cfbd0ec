"""Verifying an uploaded proof against an uploaded statement: local, stateless, nothing recorded."""

from __future__ import annotations

import hashlib
from typing import Any

from zk_pipeline.redaction import public_text
from zk_pipeline.felts import felt_hex
from zk_pipeline.risk.statement import Statement, StatementError
from zk_pipeline.services.errors import InvalidRequest


def verify_upload(proof: bytes, statement_json: bytes, min_security_bits: int) -> dict[str, Any]:
    """The fields of ``VerifyResult``; ``InvalidRequest`` for a statement or proof that cannot be read."""
    from zk_pipeline.facts.builtin import compute_facts
    from zk_pipeline.circuits.allocation.proving import verify_statement
    from zk_pipeline.stark.proof import Proof, ProofFormatError

    try:
        statement = Statement.from_json(statement_json)
    except StatementError as exc:
        raise InvalidRequest(f"invalid statement: {exc}") from None
    except UnicodeDecodeError:
        raise InvalidRequest("invalid statement: not UTF-8 JSON") from None
    if statement.outputs is None:
        raise InvalidRequest("invalid statement: it has no claimed 'outputs' to verify the proof against")
    try:
        Proof.from_bytes(proof)
    except ProofFormatError as exc:
        raise InvalidRequest(f"undecodable proof: {public_text(str(exc))}") from None
    except Exception as exc:  # the decoder is meant to raise ProofFormatError only; hostile bytes get a 422 anyway
        raise InvalidRequest(f"undecodable proof ({type(exc).__name__})") from None
    res = verify_statement(statement, proof, min_security_bits=min_security_bits)
    fact = compute_facts(statement, int(res.security_bits)).to_json()["fact_hash"] if res.valid else None
    registered, registration = statement.registration()
    return dict(valid=bool(res.valid), reason=public_text(res.reason) or "", security_bits=int(res.security_bits),
                verify_ms=float(res.verify_ms), proof_bytes=len(proof), proof_hash=hashlib.sha256(proof).hexdigest(),
                statement_hash=statement.statement_hash(), fact_hash=fact,
                distinct_query_cosets=res.distinct_query_cosets, params=res.params,
                model_hash=felt_hex(statement.model_hash), model_registered=registered,
                model_registration=registration)
