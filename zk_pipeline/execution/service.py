"""Executing one decision: exactly once, dry run unless sending is asked for.

The sequence, under advisory locks on the decision and the account (``records.exclusive``)::

    executions row of the decision
      accepted, or the decision has a transaction  -> refused: executed already
      reverted                                     -> refused: its revert reason is on record; not retried
      submitted (a hash is recorded)               -> its receipt is looked up first
           found                                   -> accepted / reverted recorded; nothing signed
           not found, the nonce was used since     -> failed (it can never be included); go on below
           not found, nonce unused                 -> the recorded transaction re-sent unchanged; wait
    gate: verified proof of this decision; the fact in Integrity's registry when required
    layout -> chain id and nonce from the node -> resource bounds (estimate x margin, or the defaults)
           -> signed here
    dry run: simulated (query-version signature) -> prepared
    send:    recorded as submitted (hash, nonce, calldata, bounds, signature), committed, then sent;
             receipt waited for -> accepted (the decision gets its transaction hash and block) / reverted;
             no receipt in time -> stays submitted, and the next run starts with its receipt
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from starknet_py.net.client_models import ResourceBoundsMapping
from starknet_py.net.models.transaction import InvokeV3

from zk_pipeline.db.models import Execution, ExecutionStatus
from zk_pipeline.db.session import session_scope
from zk_pipeline.execution import gate, records
from zk_pipeline.execution.calldata import Layout, risk_engine_layout, router_layout
from zk_pipeline.execution.keys import KeyUnavailable, signing_key
from zk_pipeline.execution.sender import (
    DEFAULT_BOUNDS, NodeRejected, NodeUnavailable, Receipt, Sender, bounds_from_estimate, bounds_to_json, rebuilt,
    revert_reason_of,
)
from zk_pipeline.facts.integrity import IntegrityRegistry, configured_registry
from zk_pipeline.settings import ExecutionSettings, Settings, get_settings

_log = logging.getLogger(__name__)
#: The node's answer to a transaction it holds already (re-sending the same signed transaction).
DUPLICATE_TX = 59


class ExecutionFailed(Exception):
    """The execution could not be carried out (configuration, key, nodes); the message says why."""


@dataclass(frozen=True)
class ExecutionReport:
    """What ``zkp execute --json`` prints: the recorded transaction and its status (never the key)."""

    decision_id: str
    chain_id: str | None
    sender_address: str
    nonce: int | None
    calldata: list[str]
    resource_bounds: dict[str, Any] | None
    transaction_hash: str | None
    signature: list[str]
    public_key: str
    status: str
    block_number: int | None
    target: str
    contract_address: str
    entry_point: str
    error: str | None

    @classmethod
    def of(cls, row: Execution) -> "ExecutionReport":
        return cls(row.decision_id, row.chain_id, row.sender_address, row.nonce, list(row.calldata or []),
                   row.resource_bounds, row.transaction_hash, list(row.signature or []), row.public_key,
                   row.status.value, row.block_number, row.target, row.contract_address, row.entry_point, row.error)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def fact_registries(settings: Settings) -> list[IntegrityRegistry]:
    """Integrity's FactRegistry the settings name, once per node it may be read through, in order:
    ``ZKP_INTEGRITY_RPC_URL`` when set, else the execution nodes. Empty when no registry is named."""
    integrity = settings.integrity
    if not (integrity.network or integrity.fact_registry):
        return []
    urls = [integrity.rpc_url.get_secret_value()] if integrity.rpc_url else settings.execution.urls
    try:
        return [configured_registry(url, integrity.network, integrity.fact_registry) for url in urls]
    except ValueError as exc:
        raise ExecutionFailed(str(exc)) from None


def layout_of(cfg: ExecutionSettings, approved: gate.Approved, registries: list[IntegrityRegistry]) -> Layout:
    if cfg.target == "router":
        return router_layout(cfg.entry_point, approved.jediswap_bps, approved.ekubo_bps, approved.fact_hash,
                             approved.model_hash)
    if not registries:
        raise ExecutionFailed("the risk_engine layout sends Integrity's FactRegistry address: set "
                              "ZKP_INTEGRITY_NETWORK (sepolia or mainnet) or ZKP_INTEGRITY_FACT_REGISTRY")
    return risk_engine_layout(approved.statement, approved.fact_hash, registries[0].address)


def execute_decision(decision_id: str, *, send: bool | None = None, settings: Settings | None = None,
                     database_url: str | None = None, log: Any = None) -> ExecutionReport:
    """Execute (or, by default, dry-run) one decision; the report of what is recorded.

    ``send``: ``None`` follows ``ZKP_EXECUTION_SEND``. Raises :class:`gate.ExecutionRefused` (the decision
    may not be executed), :class:`records.ExecutionBusy`, or :class:`ExecutionFailed`.
    """
    settings = settings or get_settings()
    cfg = settings.execution
    for value, variable in ((cfg.account, "ZKP_EXECUTION_ACCOUNT"), (cfg.contract, "ZKP_EXECUTION_CONTRACT")):
        if value is None:
            raise ExecutionFailed(f"{variable} is not set")
    try:
        key = signing_key(cfg)
        sender = Sender(cfg.urls, cfg.account, key)
    except (KeyUnavailable, ValueError) as exc:
        raise ExecutionFailed(str(exc)) from None
    run = _Run(decision_id, cfg, settings, sender, database_url, log or _log, cfg.send if send is None else send)
    with records.exclusive(database_url, decision_id, cfg.account):
        try:
            return run.execute()
        except NodeUnavailable as exc:
            raise ExecutionFailed(f"decision {decision_id}: {exc}") from None
        except NodeRejected as exc:
            raise ExecutionFailed(f"decision {decision_id}: the node refused: {exc}") from None


@dataclass
class _Run:
    decision_id: str
    cfg: ExecutionSettings
    settings: Settings
    sender: Sender
    database_url: str | None
    log: Any
    send: bool

    def _save(self, status: ExecutionStatus, **values: Any) -> ExecutionReport:
        with session_scope(self.database_url) as s:
            records.save(s, self.decision_id, status, **values)
            return ExecutionReport.of(records.get(s, self.decision_id))

    def execute(self) -> ExecutionReport:
        with session_scope(self.database_url) as s:
            row = records.get(s, self.decision_id)
        if row is not None and row.status == ExecutionStatus.accepted:
            raise gate.AlreadyExecuted(f"decision {self.decision_id} was executed already: transaction "
                                       f"{row.transaction_hash} in block {row.block_number}")
        if row is not None and row.status == ExecutionStatus.reverted:
            raise gate.ExecutionRefused(f"decision {self.decision_id}: transaction {row.transaction_hash} reverted "
                                        f"({row.error}); it is not retried")
        if row is not None and row.status == ExecutionStatus.submitted:
            report = self._resume(row)
            if report is not None:
                return report
        return self._fresh()

    # -- a transaction recorded by an earlier run ------------------------------------

    def _resume(self, row: Execution) -> ExecutionReport | None:
        """Finish what an earlier run sent; ``None`` when it can never be included (sign anew)."""
        if int(row.sender_address, 16) != self.cfg.account:
            raise gate.ExecutionRefused(f"decision {self.decision_id}: transaction {row.transaction_hash} was sent "
                                        f"from account {row.sender_address}; execute it with that account")
        tx_hash = int(row.transaction_hash, 16)
        self.log.info(f"decision {self.decision_id}: transaction {row.transaction_hash} is recorded as submitted; "
                      "looking up its receipt before anything else")
        receipt = self.sender.receipt(tx_hash)
        if receipt is not None:
            return self._settle(receipt)
        if self.sender.nonce() > row.nonce:
            self.log.warning(f"decision {self.decision_id}: transaction {row.transaction_hash} was never included and "
                             f"nonce {row.nonce} is used; signing a new transaction")
            self._save(ExecutionStatus.failed, error=f"transaction {row.transaction_hash} was never included: nonce "
                       f"{row.nonce} was used by another transaction", finished_at=records.now())
            return None
        if not self.send:
            self.log.info(f"decision {self.decision_id}: no receipt yet for {row.transaction_hash}; dry run, not re-sent")
            with session_scope(self.database_url) as s:
                return ExecutionReport.of(records.get(s, self.decision_id))
        tx = rebuilt(row.calldata, row.nonce, row.resource_bounds, row.signature, self.cfg.account)
        if tx.calculate_hash(self.sender.chain_id()) != tx_hash:
            raise ExecutionFailed(f"decision {self.decision_id}: the recorded transaction does not hash to "
                                  f"{row.transaction_hash} on this chain")
        self.log.info(f"decision {self.decision_id}: no receipt for {row.transaction_hash}; sending it again unchanged")
        return self._send_and_wait(tx, tx_hash)

    # -- a new transaction ------------------------------------------------------------

    def _fresh(self) -> ExecutionReport:
        registries = fact_registries(self.settings)
        with session_scope(self.database_url) as s:
            approved = gate.approve(s, self.decision_id, registries=registries,
                                    require_onchain=self.cfg.onchain_fact_required,
                                    min_security_bits=self.cfg.min_security_bits)
        self.log.info(f"decision {self.decision_id}: proof job {approved.proof_job_id} verified; on-chain fact: "
                      f"{approved.onchain}")
        layout = layout_of(self.cfg, approved, registries)
        call = layout.call(self.cfg.contract)
        chain_id, nonce = self.sender.chain_id(), self.sender.nonce()
        bounds, note = self._bounds(self.sender.transaction(call, nonce, ResourceBoundsMapping.init_with_zeros()))
        tx = self.sender.sign(self.sender.transaction(call, nonce, bounds))
        tx_hash = tx.calculate_hash(chain_id)
        recorded = dict(
            target=layout.target, contract_address=hex(self.cfg.contract), entry_point=layout.entry_point,
            sender_address=hex(self.cfg.account), public_key=hex(self.sender.key.public_key), chain_id=hex(chain_id),
            nonce=nonce, calldata=[hex(x) for x in tx.calldata], resource_bounds=bounds_to_json(bounds),
            signature=[hex(x) for x in tx.signature], transaction_hash=hex(tx_hash), block_number=None,
            actual_fee=None, submitted_at=None, finished_at=None)
        if not self.send:
            outcome = self._simulate(tx)
            self.log.info(f"decision {self.decision_id}: dry run, transaction {hex(tx_hash)} (nonce {nonce}) prepared, "
                          f"not sent; simulation: {outcome or 'succeeds'}")
            return self._save(ExecutionStatus.prepared, **recorded, error="; ".join(filter(None, [note, outcome])) or None)
        self._save(ExecutionStatus.submitted, **{**recorded, "submitted_at": records.now()}, error=note)
        self.log.info(f"decision {self.decision_id}: sending transaction {hex(tx_hash)} (nonce {nonce})")
        return self._send_and_wait(tx, tx_hash)

    def _bounds(self, probe: InvokeV3) -> tuple[ResourceBoundsMapping, str | None]:
        """Estimated bounds times the margin; the defaults (and why) when the node cannot estimate."""
        try:
            return bounds_from_estimate(self.sender.estimate(probe), self.cfg.fee_margin), None
        except NodeRejected as exc:
            note = f"fee estimation failed ({exc}); default resource bounds used"
            self.log.warning(f"decision {self.decision_id}: {note}: {bounds_to_json(DEFAULT_BOUNDS)}")
            return DEFAULT_BOUNDS, note

    def _simulate(self, tx: InvokeV3) -> str | None:
        try:
            reason = revert_reason_of(self.sender.simulate(tx))
        except NodeRejected as exc:
            return f"simulation refused: {exc}"
        return f"simulation reverts: {reason}" if reason else None

    def _send_and_wait(self, tx: InvokeV3, tx_hash: int) -> ExecutionReport:
        try:
            returned = self.sender.send(tx)
            if returned != tx_hash:
                self.log.warning(f"decision {self.decision_id}: the node answered hash {hex(returned)}, "
                                 f"not {hex(tx_hash)}; waiting for {hex(tx_hash)}")
        except NodeRejected as exc:
            if exc.code != DUPLICATE_TX:
                receipt = self.sender.receipt(tx_hash)  # a stale-nonce answer to a transaction that did land
                if receipt is not None:
                    return self._settle(receipt)
                self.log.warning(f"decision {self.decision_id}: transaction {hex(tx_hash)} refused: {exc}")
                return self._save(ExecutionStatus.failed, error=f"refused by the node: {exc}",
                                  finished_at=records.now())
        except NodeUnavailable as exc:
            self.log.warning(f"decision {self.decision_id}: transaction {hex(tx_hash)} may not have been sent: {exc}")
            return self._save(ExecutionStatus.submitted, error=f"not known to be sent ({exc}); the next run looks up "
                              "its receipt and sends it again unchanged")
        timeout = self.cfg.receipt_timeout_s
        receipt = self.sender.wait_for_receipt(tx_hash, timeout, poll_s=min(2.0, max(0.1, timeout / 10)))
        if receipt is None:
            self.log.warning(f"decision {self.decision_id}: no receipt for {hex(tx_hash)} within {timeout:g} s")
            return self._save(ExecutionStatus.submitted, error=f"no receipt within {timeout:g} s; the next run looks "
                              "it up before signing anything")
        return self._settle(receipt)

    def _settle(self, receipt: Receipt) -> ExecutionReport:
        tx_hex = hex(receipt.transaction_hash)
        with session_scope(self.database_url) as s:
            if receipt.succeeded:
                records.save(s, self.decision_id, ExecutionStatus.accepted, block_number=receipt.block_number,
                             actual_fee=receipt.actual_fee, error=None, finished_at=records.now())
                records.mark_executed(s, self.decision_id, tx_hex, receipt.block_number)
                self.log.info(f"decision {self.decision_id}: transaction {tx_hex} accepted in block "
                              f"{receipt.block_number}")
            else:
                records.save(s, self.decision_id, ExecutionStatus.reverted, block_number=receipt.block_number,
                             actual_fee=receipt.actual_fee, error=f"reverted: {receipt.revert_reason}",
                             finished_at=records.now())
                self.log.warning(f"decision {self.decision_id}: transaction {tx_hex} reverted: {receipt.revert_reason}")
            return ExecutionReport.of(records.get(s, self.decision_id))
