"""``zkp execute``: its JSON (a public interface), its one-line errors, a crash mid-wait, and the key
that never shows in logs, errors, the database or the output, on a decision the real pipeline made."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time

from dagster import materialize
from sqlalchemy import create_engine, select, text

from tests.conftest import ROOT
from tests.execution.conftest import ACCOUNT, PRIVATE_KEY, PUBLIC_KEY, record_decision, register_fact
from tests.execution.test_keys import PASSWORD, keystore, secret_spellings
from tests.helpers import pipeline_resources
from zk_pipeline.cli import main
from zk_pipeline.db.models import AllocationDecision, Execution, ExecutionStatus, ProofJob
from zk_pipeline.db.session import session_scope
from zk_pipeline.definitions import all_assets

JSON_KEYS = ["decision_id", "chain_id", "sender_address", "nonce", "calldata", "resource_bounds", "transaction_hash",
             "signature", "public_key", "status", "block_number", "target", "contract_address", "entry_point", "error"]


def test_the_json_output_of_a_dry_run_and_a_send(db_url, node, execution_env, capsys):
    made = record_decision(db_url)
    register_fact(node, made.fact_hash)
    assert main(["execute", "--decision", made.decision_id, "--json"]) == 0
    dry = json.loads(capsys.readouterr().out)
    assert list(dry) == JSON_KEYS and dry["status"] == "prepared" and node.sent == {}
    assert dry["chain_id"] == hex(node.chain_id) and dry["sender_address"] == hex(ACCOUNT) and dry["nonce"] == 0
    assert dry["public_key"] == hex(PUBLIC_KEY) and all(x.startswith("0x") for x in dry["calldata"] + dry["signature"])
    assert set(dry["resource_bounds"]) == {"l1_gas", "l1_data_gas", "l2_gas"}
    assert main(["execute", "--decision", made.decision_id, "--send", "--json"]) == 0
    sent = json.loads(capsys.readouterr().out)
    assert sent["status"] == "accepted" and int(sent["transaction_hash"], 16) in node.sent
    # executed already: one error line, exit 2, nothing sent
    assert main(["execute", "--decision", made.decision_id, "--send"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("zkp: error: ") and err.count("\n") == 1 and "executed already" in err
    assert len(node.invokes()) == 1


def test_errors_are_one_line(db_url, node, execution_env, capsys):
    made = record_decision(db_url, verified=False)
    assert main(["execute", "--decision", made.decision_id]) == 2
    err = capsys.readouterr().err
    assert err.startswith("zkp: error: ") and err.count("\n") == 1 and "not verified" in err
    execution_env.delenv("ZKP_EXECUTION_ACCOUNT")
    assert main(["execute", "--decision", made.decision_id]) == 2
    assert capsys.readouterr().err == "zkp: error: ZKP_EXECUTION_ACCOUNT is not set\n"


def test_a_crash_while_waiting_for_the_receipt_never_makes_a_second_transaction(db_url, node, execution_env):
    made = record_decision(db_url)
    register_fact(node, made.fact_hash)
    node.hold_receipts = True
    env = {**os.environ, "ZKP_EXECUTION_RECEIPT_TIMEOUT_S": "120"}
    proc = subprocess.Popen([sys.executable, "-m", "zk_pipeline.cli", "execute", "--decision", made.decision_id,
                             "--send"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not node.sent and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.1)
        assert node.sent, "the transaction was never sent"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    with session_scope(db_url) as s:
        recorded = s.get(Execution, made.decision_id)
    assert recorded.status == ExecutionStatus.submitted and int(recorded.transaction_hash, 16) in node.sent
    node.hold_receipts = False
    from zk_pipeline.execution.service import execute_decision

    report = execute_decision(made.decision_id, send=True)
    assert report.status == "accepted" and report.transaction_hash == recorded.transaction_hash
    assert len(node.invokes()) == 1 and len(node.sent) == 1


def _database_text(url: str) -> str:
    engine = create_engine(url)
    with engine.connect() as c:
        tables = c.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'zkp'")).scalars().all()
        dump = "\n".join(str(row) for t in tables for row in c.execute(text(f'SELECT * FROM zkp."{t}"')))
    engine.dispose()
    return dump


def test_the_key_never_shows_after_a_dry_run_and_a_sent_run_of_a_pipeline_decision(
        db_url, dagster_instance, node, execution_env, tmp_path, capsys, caplog):
    result = materialize(all_assets, partition_key="2026-11-20-10:00", resources=pipeline_resources(db_url),
                         instance=dagster_instance)
    assert result.success
    with session_scope(db_url) as s:
        d = s.scalars(select(AllocationDecision)).one()
        decision_id, fact = d.decision_id, s.get(ProofJob, d.proof_job_id).fact_hash
    register_fact(node, fact)
    execution_env.delenv("ZKP_EXECUTION_PRIVATE_KEY")
    execution_env.setenv("ZKP_EXECUTION_KEYSTORE", str(keystore(tmp_path)))
    execution_env.setenv("ZKP_EXECUTION_KEYSTORE_PASSWORD", PASSWORD)
    with caplog.at_level(logging.DEBUG):
        assert main(["execute", "--decision", decision_id, "--json"]) == 0
        assert main(["execute", "--decision", decision_id, "--send", "--json"]) == 0
        assert main(["execute", "--decision", decision_id, "--send"]) == 2  # an error path too
        execution_env.setenv("ZKP_EXECUTION_KEYSTORE_PASSWORD", "a wrong password")
        assert main(["execute", "--decision", decision_id]) == 2
    out = capsys.readouterr()
    with session_scope(db_url) as s:
        assert s.get(AllocationDecision, decision_id).transaction_hash is not None
    logs = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    seen = {"stdout": out.out, "stderr": out.err, "logs": logs, "database": _database_text(db_url),
            "requests": json.dumps([r.body for r in node.requests], default=str)}
    assert "accepted" in seen["stdout"] and "wrong password" in seen["stderr"]
    for where, content in seen.items():
        for secret in secret_spellings(PRIVATE_KEY) + [PASSWORD]:
            assert secret not in content, f"the key or its password shows in {where}"
