"""Prove and verify allocation statements: the entry points the rest of the project uses.

They tie a :class:`~zk_pipeline.risk.statement.Statement` to the allocation AIR and the generic prover, and
refuse to prove claimed outputs the model does not compute (a proof of a wrong claim must not exist).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from zk_pipeline.circuits.allocation.air import AIR_ID, AllocationAir
from zk_pipeline.circuits.allocation.public import StatementNotSupported, public_data
from zk_pipeline.stark.params import DEFAULT_PARAMS, SECURITY_POLICY, ParamsError, ProofParams
from zk_pipeline.stark.proof import Proof, ProofFormatError
from zk_pipeline.stark.prover import ProverStats, ProvingError, prove
from zk_pipeline.stark.verifier import VerificationError, verify


class ProofError(ValueError):
    """The statement cannot be proven (unsupported, or its claimed outputs are wrong)."""


@dataclass(frozen=True)
class StatementProof:
    """A built-in proof of a statement (its bytes) with what proving it measured."""

    proof_bytes: bytes
    prove_ms: float
    trace_rows: int
    trace_columns: int  # committed columns: main + aux
    main_columns: int
    aux_columns: int
    security_bits: int
    proof_hash: str  # SHA-256 hex of proof_bytes
    air_id: str
    statement_hash: str
    phases_ms: dict = field(default_factory=dict)
    distinct_query_cosets: int = 0
    params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class VerificationResult:
    valid: bool
    reason: str
    security_bits: int
    verify_ms: float
    proof_bytes: int
    #: First-layer FRI cosets the queries opened (0 when the proof was not checked that far).
    distinct_query_cosets: int = 0
    #: The parameter set carried in the proof (empty when it does not decode).
    params: dict = field(default_factory=dict)


def _outputs_mismatch(claimed, actual, path: str = "outputs") -> str | None:
    if isinstance(actual, dict):
        if not isinstance(claimed, dict):
            return path
        for k in actual:
            bad = _outputs_mismatch(claimed.get(k), actual[k], f"{path}.{k}")
            if bad:
                return bad
        return None
    return None if claimed == actual and type(claimed) is type(actual) else path


def prove_statement(statement, params: ProofParams | None = None) -> StatementProof:
    """Prove that the statement's outputs are the model's (computed first if absent)."""
    params = params or DEFAULT_PARAMS
    try:
        SECURITY_POLICY.check(params)
    except ParamsError as exc:
        raise ProofError(str(exc)) from None
    t0 = time.perf_counter()
    if statement.outputs is None:
        statement = statement.with_outputs()
    result = statement.evaluate()
    bad = _outputs_mismatch(statement.outputs, result.summary())
    if bad:
        raise ProofError(f"claimed {bad} differs from what the model computes; refusing to prove")
    try:
        air = AllocationAir(public_data(statement), result)
        trace = air.build_main_trace(result)
        stats = ProverStats()
        proof = prove(air, trace, params, stats=stats)
    except (StatementNotSupported, ProvingError) as exc:
        raise ProofError(str(exc)) from None
    data = proof.to_bytes()
    return StatementProof(
        proof_bytes=data,
        prove_ms=round((time.perf_counter() - t0) * 1000, 1),
        trace_rows=air.trace_length,
        trace_columns=air.main_width + air.aux_width,
        main_columns=air.main_width,
        aux_columns=air.aux_width,
        security_bits=params.security_bits(air.trace_length * params.blowup),
        proof_hash=proof.hash(),
        air_id=AIR_ID,
        statement_hash=statement.statement_hash(),
        phases_ms=stats.phases or {},
        distinct_query_cosets=params.num_queries,  # the transcript draws one query per coset
        params=params.to_dict(),
    )


def verify_statement(statement, proof_bytes: bytes, min_security_bits: int = 96) -> VerificationResult:
    """Check a proof against a statement (with claimed outputs). Never raises on bad proofs."""
    t0 = time.perf_counter()
    size = len(proof_bytes) if isinstance(proof_bytes, (bytes, bytearray, memoryview)) else 0

    params: dict = {}

    def done(valid: bool, reason: str, bits: int = 0, cosets: int = 0) -> VerificationResult:
        return VerificationResult(valid, reason, bits, round((time.perf_counter() - t0) * 1000, 1), size,
                                  cosets, params)

    try:
        proof = Proof.from_bytes(proof_bytes)
    except ProofFormatError as exc:
        return done(False, f"malformed proof: {exc}")
    params = proof.params.to_dict()
    # Until the queries are drawn, the most the parameters could give (0 if the policy refuses them).
    bits = 0 if SECURITY_POLICY.problems(proof.params) else proof.params.security_bits(
        proof.trace_length * proof.params.blowup)
    try:
        air = AllocationAir(public_data(statement))
    except ValueError as exc:  # StatementNotSupported, or series/parameters the model refuses
        return done(False, f"statement not verifiable: {exc}", bits)
    except Exception as exc:  # a hostile statement must not crash the caller either
        return done(False, f"statement not verifiable ({type(exc).__name__}: {exc})", bits)
    try:
        report = verify(air, proof, min_security_bits)
    except VerificationError as exc:
        return done(False, str(exc), bits)
    except Exception as exc:  # defence in depth: a hostile proof must never crash the caller
        return done(False, f"proof rejected ({type(exc).__name__}: {exc})", bits)
    return done(True, "ok", report.bits, report.distinct_query_cosets)
