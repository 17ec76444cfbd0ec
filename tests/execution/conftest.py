"""Fixtures of the execution tests: a decision on record, a signing account, a node double holding both.

Decisions are recorded through the repository functions (proposal, verified builtin proof job with its
fact, decision), the way the pipeline's assets record them; ``test_pipeline_execution.py`` executes one
the real pipeline made.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone

import pytest
from starknet_py.hash.utils import private_to_stark_key

from tests.execution.node_double import StarknetNodeDouble
from tests.sources.doubles import integrity_verification
from zk_pipeline.db import proof_records, repository
from zk_pipeline.db.models import AllocationProposal, ProofStatus
from zk_pipeline.db.session import session_scope
from zk_pipeline.facts.builtin import compute_facts
from zk_pipeline.facts.integrity import FACT_REGISTRY
from zk_pipeline.risk.model import ProtocolSeries
from zk_pipeline.risk.registry import get_version
from zk_pipeline.risk.statement import Statement

#: A throwaway Stark key for the tests' account (never funded anywhere).
PRIVATE_KEY = 0x5E3A1C0FFEE0BADC0DE0DEC1510A7E5A11E7B1E55EDC0FFEE0123456789ABC
PUBLIC_KEY = private_to_stark_key(PRIVATE_KEY)
ACCOUNT = 0x0457B0A7E0C0AC0C0A0C0C0A0C0C0A0C0C0A0C0C0A0C0C0A0C0C0A0C0C0A0C0
RISK_ENGINE = 0x0123AB0E0E0E0E0E0E0E0E0E0E0E0E0E0E0E0E0E0E0E0E0E0E0E0E0E0E0E0E1
ROUTER = 0x0456CD0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F2
REGISTRY = FACT_REGISTRY["sepolia"]
HOUR = datetime(2026, 11, 20, 10, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Recorded:
    decision_id: str
    statement: Statement
    fact_hash: str
    job_id: str


def registered_statement(hour: datetime = HOUR) -> Statement:
    """A statement under the registered model (its full windows), with its outputs."""
    model = get_version()
    p = model.params

    def series(base: int, step: int) -> ProtocolSeries:
        prices = tuple(int(base * (1 + 0.004 * math.sin(i * step / 7))) for i in range(p.volatility_window_hours))
        return ProtocolSeries(prices=prices, volumes=tuple(5 * 10**10 + 37 * i for i in range(p.utilization_window_hours)),
                              fees=tuple(6 * 10**8 + i for i in range(p.utilization_window_hours)), tvl=4 * 10**12)

    return Statement(hour, model.version, p, {"jediswap": series(9 * 10**12, 3), "ekubo": series(9 * 10**12 + 10**9, 5)}
                     ).with_outputs()


def record_decision(url: str, *, verified: bool = True, hour: datetime = HOUR) -> Recorded:
    """Proposal, proof job (verified with its builtin fact, or still queued) and decision, as the assets write them."""
    statement = registered_statement(hour)
    model = get_version()
    facts = compute_facts(statement, 97).to_json()
    with session_scope(url) as s:
        proposal_id = repository.write_proposal(s, statement, model, statement.evaluate())
        job = proof_records.create_job(s, statement, hour)
        if verified:
            job.status, job.source, job.security_bits = ProofStatus.verified, "builtin", 97
            job.program_hash, job.output_hash, job.fact_hash = (facts["program_hash"], facts["output_hash"],
                                                                facts["fact_hash"])
            proof_records.record_fact(s, job.id, fact_hash=facts["fact_hash"], program_hash=facts["program_hash"],
                                      output_hash=facts["output_hash"], verification_hash=facts["verification_hash"],
                                      security_bits=97, verifier="local")
        decision_id = repository.record_decision(s, s.get(AllocationProposal, proposal_id), job.id)
        job_id = job.id
    return Recorded(decision_id, statement, str(facts["fact_hash"]), job_id)


def sent_calls(node: StarknetNodeDouble) -> list[list[int]]:
    """The contract calldata of every transaction the node took (after the account's one-call header)."""
    return [tx.calldata[4:] for tx in node.sent.values()]


@pytest.fixture()
def node():
    """The primary node: the account, the risk engine, a router, and Integrity's registry (empty)."""
    with StarknetNodeDouble() as n:
        n.add_account(ACCOUNT, PUBLIC_KEY)
        n.register(RISK_ENGINE, "propose_and_execute_allocation", lambda calldata: [1])
        n.register(ROUTER, "update_allocation", lambda calldata: [])
        n.registered_facts = {}
        n.add_integrity_registry(REGISTRY, n.registered_facts)
        yield n


def register_fact(node: StarknetNodeDouble, fact_hash: str, bits: int = 96) -> None:
    fact = int(fact_hash, 16)
    node.registered_facts[fact] = [integrity_verification(fact, bits)]


@pytest.fixture()
def execution_env(monkeypatch, node, db_url):
    """The execution settings of a Sepolia account whose key is a setting; receipts waited for 5 s."""
    for name, value in {
        "ZKP_EXECUTION_RPC_URLS": node.url, "ZKP_EXECUTION_ACCOUNT": hex(ACCOUNT),
        "ZKP_EXECUTION_CONTRACT": hex(RISK_ENGINE), "ZKP_EXECUTION_PRIVATE_KEY": hex(PRIVATE_KEY),
        "ZKP_INTEGRITY_NETWORK": "sepolia", "ZKP_EXECUTION_RECEIPT_TIMEOUT_S": "5",
    }.items():
        monkeypatch.setenv(name, value)
    return monkeypatch
