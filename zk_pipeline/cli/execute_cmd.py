"""``zkp execute``: send a verified decision to Starknet, at most once; a dry run unless told to send.

::

    zkp execute --decision ID [--send] [--json]

Without ``--send`` (and without ``ZKP_EXECUTION_SEND=true``) the transaction is built, signed and
simulated, recorded ``prepared``, and not sent. With it, the transaction is recorded, sent, and its
receipt waited for (``ZKP_EXECUTION_RECEIPT_TIMEOUT_S``). Only a decision whose proof is verified (and,
for the risk engine, whose fact Integrity's FactRegistry holds) is executed; an executed decision is
refused. Settings: README, "Sending to Starknet".

With ``--json`` one JSON object is printed on stdout: ``decision_id, chain_id, sender_address, nonce,
calldata`` (the account's ``__execute__`` calldata, hex felts), ``resource_bounds, transaction_hash,
signature`` (hex felts), ``public_key, status`` (``prepared``, ``submitted``, ``accepted``, ``reverted``
or ``failed``), ``block_number, target, contract_address, entry_point, error``.

Exit codes: 0 prepared (dry run) or accepted; 1 reverted, refused by the node, or no receipt yet
(the status says which; running the command again looks the receipt up before signing anything);
2 nothing done: the decision may not be executed (not verified, executed already, ...), the settings
are incomplete, or no node answered; reported as one ``zkp: error:`` line.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from typing import TYPE_CHECKING

from zk_pipeline.cli.output import emit, fail
from zk_pipeline.redaction import public_text

if TYPE_CHECKING:
    from zk_pipeline.execution.service import ExecutionReport

OK_STATUSES = ("prepared", "accepted")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("execute", help="send a verified decision to Starknet (a dry run unless --send)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--decision", required=True, help="decision id (a UUID, as the API lists them)")
    p.add_argument("--send", action="store_true", default=None,
                   help="send the transaction (default: ZKP_EXECUTION_SEND, else a dry run)")
    p.add_argument("--json", action="store_true", help="print one JSON object with the transaction and its status")
    p.set_defaults(func=run_execute)


def _print_text(report: "ExecutionReport") -> None:
    lines = [f"decision {report.decision_id}: {report.status}"
             + (" (dry run: signed and simulated, not sent)" if report.status == "prepared" else ""),
             f"  {report.target} {report.contract_address}.{report.entry_point} from {report.sender_address} "
             f"(nonce {report.nonce}, chain {report.chain_id})",
             f"  transaction {report.transaction_hash}"
             + (f" in block {report.block_number}" if report.block_number is not None else "")]
    if report.error:
        lines.append(f"  {report.error}")
    sys.stdout.write("\n".join(lines) + "\n")


def run_execute(args: argparse.Namespace) -> int:
    # Imported here: starknet-py and its hashing take ~2 s to import, and every `zkp` process (the
    # built-in prover's children above all) would pay for them otherwise.
    from sqlalchemy.exc import SQLAlchemyError

    from zk_pipeline.execution.gate import ExecutionRefused
    from zk_pipeline.execution.records import ExecutionBusy
    from zk_pipeline.execution.service import ExecutionFailed, execute_decision

    try:
        decision_id = str(uuid.UUID(args.decision))
    except ValueError:
        return fail(f"--decision: not a decision id: {args.decision[:80]!r}")
    try:
        report = execute_decision(decision_id, send=args.send)
    except (ExecutionRefused, ExecutionBusy) as exc:
        return fail(public_text(str(exc)) or "refused")
    except ExecutionFailed as exc:
        return fail(public_text(str(exc)) or "failed", code=2)
    except SQLAlchemyError as exc:
        return fail(f"database: {public_text(str(exc).splitlines()[0], limit=300)}", code=2)
    if args.json:
        emit(report.to_json())
    else:
        _print_text(report)
    return 0 if report.status in OK_STATUSES else 1
