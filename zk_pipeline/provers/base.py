"""The prover interface.

A backend turns a statement into proof bytes, or fails in one of three ways
the orchestrator treats differently:

* ``ProverUnavailable`` — not installed / not configured: skip to the next
  backend at once, retrying would not help;
* ``ProverTimeout`` and ``ProverFailed`` — a crash, a hang, a bad answer:
  record the attempt, back off, retry, then fall back.

A backend never decides that a proof is good; ``verify`` does, and the
orchestrator refuses to record success without it.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any

from zk_pipeline.risk.statement import Statement


class ProverError(RuntimeError):
    """Base of backend failures. Messages must never contain secrets."""


class ProverUnavailable(ProverError):
    pass


class ProverFailed(ProverError):
    pass


class ProverTimeout(ProverError):
    pass


class ProofRejected(ProverError):
    """The backend produced a proof, but it did not verify."""


@dataclass(frozen=True)
class ProofArtifact:
    proof: bytes
    backend: str
    prove_ms: int
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Verification:
    """A verifier's verdict. ``verifier`` is where it was reached: ``local`` (a verifier run on
    this machine: the built-in one, or Stone's ``cpu_air_verifier``) or ``integrity`` (Herodotus
    Integrity's fact registry on Starknet, as reported by a remote service); ``l2_fact_hash`` is
    the fact as that registry holds it."""

    valid: bool
    reason: str
    security_bits: int
    verify_ms: int
    verifier: str = "local"
    l2_fact_hash: str | None = None


class ProverBackend(abc.ABC):
    #: Registry name, also stored as the proof job's ``source``.
    name: str
    #: Overrides the policy's per-attempt timeout for this backend (a remote
    #: service may need longer than a local prover).
    timeout_s: float | None = None

    def check_available(self) -> None:
        """Raise ``ProverUnavailable`` with a reason when this backend cannot run here."""

    @abc.abstractmethod
    def prove(self, statement: Statement, timeout_s: float) -> ProofArtifact: ...

    @abc.abstractmethod
    def verify(self, statement: Statement, artifact: ProofArtifact, min_security_bits: int) -> Verification: ...

    def facts(self, statement: Statement, artifact: ProofArtifact, security_bits: int) -> dict[str, Any]:
        """The fact this proof establishes (0x hex ``program_hash``, ``output_hash``, ``fact_hash``,
        ``verification_hash``). Built-in-format proofs by default; Cairo/Stone backends override."""
        from zk_pipeline.facts.builtin import compute_facts

        return compute_facts(statement, security_bits).to_json()
