"""Whether a decision may be sent: what is checked here, before anything is signed.

1. The decision exists and carries no transaction yet (an executed decision is refused).
2. Its proof job is ``verified``, and proves *this* decision: the job's statement hash is the
   proposal's, the model hash is the decision's (and the registry's for that version), and the
   statement's proven outputs are the decision's split and risks.
3. When required (``ZKP_EXECUTION_REQUIRE_ONCHAIN_FACT``, on by default for the risk engine):
   Integrity's FactRegistry holds the fact, with a consistent verification of at least
   ``ZKP_EXECUTION_MIN_SECURITY_BITS`` (``facts/integrity.py`` reads it from the chain).

The fact sent and looked up is the one Integrity registered for the proof (Atlantic's L2 fact)
when there is one, else the proof's own fact.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from zk_pipeline.db import proof_records
from zk_pipeline.db.models import AllocationDecision, AllocationProposal, ProofStatus
from zk_pipeline.facts.integrity import IntegrityError, IntegrityRegistry, OnChainLookup
from zk_pipeline.felts import felt_hex
from zk_pipeline.risk.model import ALLOCATION_ORDER
from zk_pipeline.risk.statement import Statement, StatementError


class ExecutionRefused(Exception):
    """The decision may not be executed; the message says why."""


class AlreadyExecuted(ExecutionRefused):
    """The decision's transaction is on chain already."""


@dataclass(frozen=True)
class Approved:
    decision_id: str
    statement: Statement  # with its proven outputs
    fact_hash: int
    model_hash: int
    jediswap_bps: int
    ekubo_bps: int
    proof_job_id: str
    #: What the registry said (or why it was not asked).
    onchain: str


def _same_decision(decision: AllocationDecision, statement: Statement) -> list[str]:
    out = statement.outputs or {}
    problems = []
    if felt_hex(statement.model_hash) != decision.model_hash:
        problems.append("the statement's model hash is not the decision's")
    if out.get("allocation") != {"jediswap_bps": decision.jediswap_pct, "ekubo_bps": decision.ekubo_pct}:
        problems.append("the statement's proven split is not the decision's")
    risks = [out.get("protocols", {}).get(name, {}).get("risk") for name in ALLOCATION_ORDER]
    if risks != [decision.jediswap_risk, decision.ekubo_risk]:
        problems.append("the statement's proven risks are not the decision's")
    registered, reason = statement.registration()
    if registered is not True:
        problems.append(reason)
    return problems


def lookup(registries: list[IntegrityRegistry], fact: str) -> OnChainLookup:
    """The registry's answer through the first node that gives one."""
    problems = []
    for registry in registries:
        try:
            return registry.lookup(fact)
        except IntegrityError as exc:
            problems.append(str(exc))
    raise IntegrityError("; ".join(problems))


def approve(session: Session, decision_id: str, *, registries: list[IntegrityRegistry], require_onchain: bool,
            min_security_bits: int) -> Approved:
    """The decision's statement and fact, if it may be executed; :class:`ExecutionRefused` otherwise."""
    decision = session.get(AllocationDecision, decision_id)
    if decision is None:
        raise ExecutionRefused(f"no decision {decision_id}")
    if decision.transaction_hash:
        raise AlreadyExecuted(f"decision {decision_id} was executed already: transaction {decision.transaction_hash}"
                              f" in block {decision.block_number}")
    job = proof_records.get_job(session, decision.proof_job_id) if decision.proof_job_id else None
    if job is None or job.status != ProofStatus.verified or not job.fact_hash:
        state = "no proof job" if job is None else f"proof job {job.id} is {job.status.value}"
        raise ExecutionRefused(f"decision {decision_id} is not verified: {state}")
    if not proof_records.facts_by_hash(session, job.fact_hash):
        raise ExecutionRefused(f"decision {decision_id}: no verifier has recorded fact {job.fact_hash}")
    proposal = session.get(AllocationProposal, decision.proposal_id)
    try:
        statement = Statement.from_dict(proposal.statement)
    except StatementError as exc:
        raise ExecutionRefused(f"decision {decision_id}: its statement does not parse ({exc})") from None
    problems = _same_decision(decision, statement)
    if job.statement_hash != statement.statement_hash():
        problems.append(f"proof job {job.id} proves another statement")
    if problems:
        raise ExecutionRefused(f"decision {decision_id}: " + "; ".join(problems))
    fact = job.l2_fact_hash or job.fact_hash
    onchain = "not required"
    if require_onchain:
        if not registries:
            raise ExecutionRefused("the on-chain fact check needs Integrity's FactRegistry: set ZKP_INTEGRITY_NETWORK "
                                   "or ZKP_INTEGRITY_FACT_REGISTRY")
        try:
            found = lookup(registries, fact)
        except IntegrityError as exc:
            raise ExecutionRefused(f"decision {decision_id}: {exc}") from None
        onchain = found.summary(min_security_bits)
        if not found.registered(min_security_bits):
            raise ExecutionRefused(f"decision {decision_id}: fact {fact} is {onchain}")
    return Approved(decision_id, statement, int(fact, 16), statement.model_hash, decision.jediswap_pct,
                    decision.ekubo_pct, job.id, onchain)
