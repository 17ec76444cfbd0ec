"""Executing decisions against the node double: dry run, send, revert, fees, failover, timeouts."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select

from tests.execution.conftest import (
    ACCOUNT, PUBLIC_KEY, REGISTRY, RISK_ENGINE, ROUTER, record_decision, register_fact, sent_calls,
)
from tests.execution.node_double import PRICES, StarknetNodeDouble
from tests.sources.doubles import closed_port_url
from zk_pipeline.db.models import AllocationDecision, Execution, ExecutionStatus
from zk_pipeline.db.session import session_scope
from zk_pipeline.execution.calldata import RISK_ENGINE_FELTS
from zk_pipeline.execution.gate import AlreadyExecuted, ExecutionRefused
from zk_pipeline.execution.sender import DEFAULT_BOUNDS, bounds_to_json
from zk_pipeline.execution.service import execute_decision


def row(url: str, decision_id: str) -> Execution:
    with session_scope(url) as s:
        return s.get(Execution, decision_id)


def decision(url: str, decision_id: str) -> AllocationDecision:
    with session_scope(url) as s:
        return s.get(AllocationDecision, decision_id)


def test_a_dry_run_signs_and_simulates_and_sends_nothing(db_url, node, execution_env):
    made = record_decision(db_url)
    register_fact(node, made.fact_hash)
    report = execute_decision(made.decision_id)
    assert report.status == "prepared" and report.error is None
    assert node.invokes() == [] and node.sent == {}
    methods = node.methods()
    assert "starknet_estimateFee" in methods and "starknet_simulateTransactions" in methods
    # what was simulated carries a query-version signature: no node can include it
    sims = [r.body["params"]["transactions"][0] for r in node.requests
            if isinstance(r.body, dict) and r.body.get("method") == "starknet_simulateTransactions"]
    assert int(sims[0]["version"], 16) == 2**128 + 3
    # the recorded transaction is complete: hash, nonce, bounds from the estimate times 1.5, signature
    stored = row(db_url, made.decision_id)
    assert stored.status == ExecutionStatus.prepared and stored.nonce == 0
    assert stored.transaction_hash == report.transaction_hash and len(stored.signature) == 2
    assert int(stored.resource_bounds["l2_gas"]["max_price_per_unit"], 16) == int(PRICES["l2_gas"] * 1.5)
    assert report.public_key == hex(PUBLIC_KEY) and report.sender_address == hex(ACCOUNT)
    # the risk engine's 24 felts, after the account's one-call header
    calldata = [int(x, 16) for x in report.calldata]
    assert calldata[:2] == [1, RISK_ENGINE] and calldata[3] == RISK_ENGINE_FELTS == len(calldata) - 4
    felts = calldata[4:]
    out = made.statement.outputs["protocols"]
    assert felts[0:5] == [out["jediswap"]["utilization_bps"], out["jediswap"]["volatility_bps"],
                          out["jediswap"]["liquidity_tier"], 85, out["jediswap"]["age_days"]]
    assert felts[10:16] == [int(made.fact_hash, 16), int(made.fact_hash, 16), out["jediswap"]["risk"],
                            out["ekubo"]["risk"], REGISTRY, made.statement.model_hash]
    assert felts[16:] == [0] * 8
    assert decision(db_url, made.decision_id).transaction_hash is None


def test_send_and_accept_fills_the_decision(db_url, node, execution_env):
    made = record_decision(db_url)
    register_fact(node, made.fact_hash)
    report = execute_decision(made.decision_id, send=True)
    assert report.status == "accepted" and report.error is None
    assert len(node.invokes()) == 1 and [len(c) for c in sent_calls(node)] == [24]
    (sent,) = node.sent.values()
    assert hex(sent.hash) == report.transaction_hash and report.block_number == sent.block_number
    d = decision(db_url, made.decision_id)
    assert (d.transaction_hash, d.block_number) == (report.transaction_hash, sent.block_number)
    stored = row(db_url, made.decision_id)
    assert stored.actual_fee["unit"] == "FRI" and stored.finished_at is not None
    # executed once: a second execution is refused and sends nothing
    with pytest.raises(AlreadyExecuted):
        execute_decision(made.decision_id, send=True)
    assert len(node.invokes()) == 1


def test_a_revert_is_recorded_with_its_reason_and_not_retried(db_url, node, execution_env):
    made = record_decision(db_url)
    register_fact(node, made.fact_hash)

    def refuse(calldata):
        raise LookupError("DAO constraints violated")

    node.register(RISK_ENGINE, "propose_and_execute_allocation", refuse)
    node.estimate_fails = False
    report = execute_decision(made.decision_id, send=True)  # estimation fails on a revert: default bounds
    assert report.status == "reverted" and "DAO constraints violated" in report.error
    assert decision(db_url, made.decision_id).transaction_hash is None
    with pytest.raises(ExecutionRefused, match="reverted.*not retried"):
        execute_decision(made.decision_id, send=True)
    assert len(node.invokes()) == 1


def test_estimation_failure_uses_the_default_bounds_and_says_so(db_url, node, execution_env, caplog):
    made = record_decision(db_url)
    register_fact(node, made.fact_hash)
    node.estimate_fails = True
    with caplog.at_level(logging.WARNING, logger="zk_pipeline.execution"):
        report = execute_decision(made.decision_id, send=True)
    assert report.status == "accepted"
    assert report.resource_bounds == bounds_to_json(DEFAULT_BOUNDS)
    assert any("default resource bounds" in r.getMessage() for r in caplog.records)


def test_the_backup_node_takes_over_when_the_primary_is_down(db_url, node, execution_env):
    made = record_decision(db_url)
    register_fact(node, made.fact_hash)
    execution_env.setenv("ZKP_EXECUTION_RPC_URLS", f"{closed_port_url('/rpc/v0_10/KEYabc123def456ghi789')},{node.url}")
    report = execute_decision(made.decision_id, send=True)
    assert report.status == "accepted" and len(node.invokes()) == 1
    assert "KEYabc123def456ghi789" not in str(row(db_url, made.decision_id).__dict__)


def test_a_gateway_error_moves_to_the_next_node(db_url, node, execution_env):
    made = record_decision(db_url)
    register_fact(node, made.fact_hash)
    with StarknetNodeDouble() as failing:
        failing.http_status = {m: 503 for m in ("starknet_specVersion", "starknet_chainId", "starknet_getNonce",
                                                "starknet_addInvokeTransaction")}
        execution_env.setenv("ZKP_EXECUTION_RPC_URLS", f"{failing.url},{node.url}")
        report = execute_decision(made.decision_id, send=True)
    assert report.status == "accepted" and len(node.invokes()) == 1


def test_no_receipt_in_time_stays_submitted_and_the_next_run_signs_nothing_new(db_url, node, execution_env):
    made = record_decision(db_url)
    register_fact(node, made.fact_hash)
    execution_env.setenv("ZKP_EXECUTION_RECEIPT_TIMEOUT_S", "1")
    node.hold_receipts = True
    first = execute_decision(made.decision_id, send=True)
    assert first.status == "submitted" and "no receipt within 1 s" in first.error
    assert decision(db_url, made.decision_id).transaction_hash is None
    node.hold_receipts = False
    second = execute_decision(made.decision_id, send=True)
    assert second.status == "accepted" and second.transaction_hash == first.transaction_hash
    assert len(node.invokes()) == 1  # the receipt of the recorded hash was looked up; nothing signed again


def test_a_transaction_lost_before_the_node_got_it_is_sent_again_unchanged(db_url, node, execution_env):
    made = record_decision(db_url)
    register_fact(node, made.fact_hash)
    node.http_status = {"starknet_addInvokeTransaction": 503}
    first = execute_decision(made.decision_id, send=True)
    assert first.status == "submitted" and node.sent == {}
    node.http_status = {}
    second = execute_decision(made.decision_id, send=True)
    assert second.status == "accepted" and second.transaction_hash == first.transaction_hash
    assert second.signature == first.signature and len(node.sent) == 1


def test_unverified_and_unknown_decisions_are_refused(db_url, node, execution_env):
    made = record_decision(db_url, verified=False)
    with pytest.raises(ExecutionRefused, match="not verified"):
        execute_decision(made.decision_id, send=True)
    with pytest.raises(ExecutionRefused, match="no decision"):
        execute_decision("00000000-0000-0000-0000-000000000000", send=True)
    assert node.invokes() == [] and row(db_url, made.decision_id) is None


def test_a_fact_not_in_the_registry_is_refused_for_the_risk_engine(db_url, node, execution_env):
    made = record_decision(db_url)
    with pytest.raises(ExecutionRefused, match="not registered"):
        execute_decision(made.decision_id, send=True)
    register_fact(node, made.fact_hash, bits=80)  # registered, below the minimum
    with pytest.raises(ExecutionRefused, match="none consistent at >= 96 bits"):
        execute_decision(made.decision_id, send=True)
    assert node.invokes() == []


def test_the_router_layout_carries_the_split_fact_and_model_hash(db_url, node, execution_env):
    made = record_decision(db_url)  # no registry fact: the router does not require one by default
    execution_env.setenv("ZKP_EXECUTION_TARGET", "router")
    execution_env.setenv("ZKP_EXECUTION_CONTRACT", hex(ROUTER))
    report = execute_decision(made.decision_id, send=True)
    assert report.status == "accepted" and report.entry_point == "update_allocation"
    alloc = made.statement.outputs["allocation"]
    assert sent_calls(node) == [[alloc["jediswap_bps"], alloc["ekubo_bps"], int(made.fact_hash, 16),
                                  made.statement.model_hash]]


def test_the_node_refuses_a_bad_signature_and_a_stale_nonce(db_url, node, execution_env):
    made = record_decision(db_url)
    register_fact(node, made.fact_hash)
    node.accounts[ACCOUNT].public_key += 1  # the account's key is not the one we sign with
    report = execute_decision(made.decision_id, send=True)
    assert report.status == "failed" and "Account validation failed" in report.error
    node.accounts[ACCOUNT].public_key = PUBLIC_KEY
    with session_scope(db_url) as s:  # a stale nonce: the account moved on since this transaction was signed
        stale = s.scalar(select(Execution).where(Execution.decision_id == made.decision_id))
    assert stale.nonce == 0
    node.accounts[ACCOUNT].nonce = 3
    from zk_pipeline.execution.sender import NodeRejected, Sender, rebuilt
    from zk_pipeline.execution.keys import SigningKey
    from tests.execution.conftest import PRIVATE_KEY

    sender = Sender([node.url], ACCOUNT, SigningKey(PRIVATE_KEY))
    tx = rebuilt(stale.calldata, stale.nonce, stale.resource_bounds, stale.signature, ACCOUNT)
    with pytest.raises(NodeRejected) as refused:
        sender.send(tx)
    assert refused.value.code == 52 and "Invalid transaction nonce" in str(refused.value)
    # a failed attempt put nothing on chain: the next run signs afresh with the node's nonce
    report = execute_decision(made.decision_id, send=True)
    assert report.status == "accepted" and report.nonce == 3
