"""The two calldata layouts a decision is sent in (``docs/execution.md`` has the field-by-field table).

``risk_engine``: Obsqra's ``RiskEngine.propose_and_execute_allocation`` (contracts/src/risk_engine.cairo)::

    jediswap_metrics: ProtocolMetrics {utilization, volatility, liquidity, audit_score, age_days}
    ekubo_metrics:    ProtocolMetrics
    jediswap_proof_fact, ekubo_proof_fact, expected_jediswap_score, expected_ekubo_score: felt252
    fact_registry_address: ContractAddress
    model_version: felt252
    constraint_signature: ConstraintSignature {signer, max_single, min_diversification, max_volatility,
                                               min_liquidity, signature_r, signature_s, timestamp}

24 felts. The metrics and scores are the proven statement's outputs; both proof facts are the one fact
of this decision's proof (one proof covers both protocols); ``model_version`` is the model hash;
the constraint signature is all zeros (``signer = 0``: none provided, which the contract accepts).

``router``: ``<entry point>(jediswap_bps, ekubo_bps, fact_hash, model_hash)``, the entry point's name
configurable (``update_allocation`` by default).

The account executes one call through its ``__execute__`` entry point; :func:`execute_calldata` is the
Cairo 1 account calldata (``Array<Call>``) that the transaction hash commits to.
"""

from __future__ import annotations

from dataclasses import dataclass

from starknet_py.hash.selector import get_selector_from_name
from starknet_py.net.client_models import Call

from zk_pipeline.risk.model import ALLOCATION_ORDER
from zk_pipeline.risk.statement import Statement

TARGETS = ("risk_engine", "router")
RISK_ENGINE_ENTRY_POINT = "propose_and_execute_allocation"
RISK_ENGINE_FELTS = 24
#: ``ConstraintSignature``: signer 0 means "no user-signed constraints" to the contract.
NO_CONSTRAINT_SIGNATURE = (0,) * 8


@dataclass(frozen=True)
class Layout:
    """What a decision is sent as: the entry point and its calldata, felt by felt."""

    target: str
    entry_point: str
    calldata: tuple[int, ...]

    def call(self, contract: int) -> Call:
        return Call(to_addr=contract, selector=get_selector_from_name(self.entry_point), calldata=list(self.calldata))


def protocol_metrics(statement: Statement, protocol: str) -> list[int]:
    """``ProtocolMetrics`` of one protocol from the statement's proven outputs and the model's audit score."""
    out = statement.outputs["protocols"][protocol]
    return [out["utilization_bps"], out["volatility_bps"], out["liquidity_tier"],
            statement.params.protocols[protocol].audit_score, out["age_days"]]


def risk_engine_layout(statement: Statement, fact_hash: int, fact_registry: int) -> Layout:
    if statement.outputs is None:
        raise ValueError("the statement has no proven outputs")
    felts = [x for name in ALLOCATION_ORDER for x in protocol_metrics(statement, name)]
    risks = [statement.outputs["protocols"][name]["risk"] for name in ALLOCATION_ORDER]
    felts += [fact_hash, fact_hash, *risks, fact_registry, statement.model_hash, *NO_CONSTRAINT_SIGNATURE]
    assert len(felts) == RISK_ENGINE_FELTS
    return Layout("risk_engine", RISK_ENGINE_ENTRY_POINT, tuple(felts))


def router_layout(entry_point: str, jediswap_bps: int, ekubo_bps: int, fact_hash: int, model_hash: int) -> Layout:
    return Layout("router", entry_point, (jediswap_bps, ekubo_bps, fact_hash, model_hash))


def execute_calldata(call: Call) -> list[int]:
    """The account's ``__execute__(calls: Array<Call>)`` calldata for one call (Cairo 1 accounts)."""
    return [1, call.to_addr, call.selector, len(call.calldata), *call.calldata]
