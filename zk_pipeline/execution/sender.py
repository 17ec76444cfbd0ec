"""Signing and sending one invoke v3 transaction through an ordered list of Starknet nodes.

starknet-py does the protocol: an ``Account`` (address, :class:`~zk_pipeline.execution.keys.KeySigner`)
for the nonce and the fee estimate, ``InvokeV3`` and its hash, the node client for simulation,
sending and receipts. This module adds what a team holding funds needs around it:

* **Resource bounds** come from ``starknet_estimateFee``, each resource's amount and unit price
  multiplied by the fee margin (``ZKP_EXECUTION_FEE_MARGIN``, 1.5 by default: the price may rise
  between estimate and inclusion; the bounds cap what can be charged, not what is charged). When the
  node cannot estimate (its JSON-RPC error, e.g. the execution fails), :data:`DEFAULT_BOUNDS` are used
  and the caller logs that it did.
* **Estimates and simulations never carry a sendable signature**: they are signed with the query
  version (``2**128 + 3``), which no sequencer includes, so a dry run hands no node a transaction it
  could broadcast.
* **Failover**: a connection error, a timeout, an HTTP 5xx or 429, or an answer that is not JSON-RPC
  moves to the next URL of the list, after a backoff that doubles (``backoff_s``, ``2 * backoff_s``...);
  the list is tried ``rounds`` times. A JSON-RPC error is the node's answer, not an outage: it is
  raised as :class:`NodeRejected` at once (re-sending a transaction the node refused would be refused
  again). Once a node answered, later calls start with it.
* **Errors are public**: node URLs (which carry provider keys) are redacted from every message.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
from marshmallow import ValidationError
from starknet_py.net.account.account import Account
from starknet_py.net.client_errors import ClientError
from starknet_py.net.client_models import (
    Call, EstimatedFee, ResourceBounds, ResourceBoundsMapping, SimulatedTransaction, TransactionFinalityStatus,
)
from starknet_py.net.full_node_client import FullNodeClient
from starknet_py.net.http_client import ServerError
from starknet_py.net.models.transaction import InvokeV3

from zk_pipeline.execution.calldata import execute_calldata
from zk_pipeline.execution.keys import KeySigner, SigningKey
from zk_pipeline.redaction import public_text, redact_url
from zk_pipeline.starknet_client import run_sync

T = TypeVar("T")

#: Bounds used when the node cannot estimate the fee: at most 0.301 STRK in all (amount × price, in fri).
#: L2 gas covers an invoke of a few dozen felts of calldata with room to spare; L1 gas is only paid for
#: messages to L1 (none here); L1 data gas pays the state diff.
DEFAULT_BOUNDS = ResourceBoundsMapping(
    l1_gas=ResourceBounds(max_amount=1_000, max_price_per_unit=100_000_000_000_000),  # 0.1 STRK
    l1_data_gas=ResourceBounds(max_amount=1_000, max_price_per_unit=1_000_000_000_000),  # 0.001 STRK
    l2_gas=ResourceBounds(max_amount=10_000_000, max_price_per_unit=20_000_000_000),  # 0.2 STRK
)
#: JSON-RPC error of a node that does not know a transaction hash (yet).
TXN_HASH_NOT_FOUND = 29
#: Receipts in these finality states are final enough to record; a pre-confirmed one is waited on.
FINAL = (TransactionFinalityStatus.ACCEPTED_ON_L2, TransactionFinalityStatus.ACCEPTED_ON_L1)


class NodeUnavailable(Exception):
    """No node of the list answered (connection errors, timeouts, 5xx), after every retry."""


class NodeRejected(Exception):
    """A node answered with a JSON-RPC error (``code``), e.g. a bad signature or a stale nonce."""

    def __init__(self, code: Any, message: str) -> None:
        self.code = code
        super().__init__(message)


def bounds_to_json(bounds: ResourceBoundsMapping) -> dict[str, dict[str, str]]:
    """The RPC's form: ``{"l1_gas": {"max_amount": "0x…", "max_price_per_unit": "0x…"}, …}``."""
    return {name: {"max_amount": hex(b.max_amount), "max_price_per_unit": hex(b.max_price_per_unit)}
            for name, b in (("l1_gas", bounds.l1_gas), ("l1_data_gas", bounds.l1_data_gas), ("l2_gas", bounds.l2_gas))}


def bounds_from_json(data: dict[str, dict[str, str]]) -> ResourceBoundsMapping:
    return ResourceBoundsMapping(**{name: ResourceBounds(int(b["max_amount"], 16), int(b["max_price_per_unit"], 16))
                                    for name, b in data.items()})


def bounds_from_estimate(fee: EstimatedFee, margin: float) -> ResourceBoundsMapping:
    return fee.to_resource_bounds(amount_multiplier=margin, unit_price_multiplier=margin)


def _transient(exc: BaseException) -> bool:
    """An outage (try the next node) rather than the node's answer."""
    if isinstance(exc, ClientError):
        code = str(exc.code)
        return code.isdigit() and (int(code) >= 500 or int(code) == 429) and not isinstance(exc.code, int)
    return isinstance(exc, (aiohttp.ClientError, asyncio.TimeoutError, OSError, ServerError, ValidationError,
                            ValueError, KeyError, TypeError))


@dataclass(frozen=True)
class Receipt:
    transaction_hash: int
    succeeded: bool
    block_number: int | None
    revert_reason: str | None
    actual_fee: dict[str, str]


class Sender:
    """One account on one chain, reached through ``urls`` in order."""

    def __init__(self, urls: list[str], account_address: int, key: SigningKey, *, request_timeout_s: float = 10.0,
                 backoff_s: float = 0.5, rounds: int = 2) -> None:
        if not urls:
            raise ValueError("no Starknet node: set ZKP_EXECUTION_RPC_URLS")
        self.urls = list(urls)
        self.account_address = account_address
        self.key = key
        self.request_timeout_s = request_timeout_s
        self.backoff_s = backoff_s
        self.rounds = rounds
        self._first = 0  # the node that answered last
        self._chain_id: int | None = None

    def __repr__(self) -> str:
        return f"Sender({hex(self.account_address)} via {', '.join(redact_url(u) for u in self.urls)})"

    def _public(self, text: str) -> str:
        return public_text(text, self.urls, limit=500) or ""

    # -- transport ----------------------------------------------------------------

    async def _on_nodes(self, op: Callable[[FullNodeClient], Awaitable[T]]) -> T:
        problems: list[str] = []
        order = [(self._first + i) % len(self.urls) for i in range(len(self.urls))] * self.rounds
        for attempt, index in enumerate(order):
            if attempt:
                await asyncio.sleep(self.backoff_s * 2 ** (attempt - 1))
            url = self.urls[index]
            try:
                timeout = aiohttp.ClientTimeout(total=self.request_timeout_s)
                async with aiohttp.ClientSession(timeout=timeout) as session:
                    result = await op(FullNodeClient(node_url=url, session=session))
            except ClientError as exc:
                if not _transient(exc):
                    raise NodeRejected(exc.code, self._public(f"{redact_url(url)}: {exc.message}")) from None
                problems.append(f"{redact_url(url)}: HTTP {exc.code}")
            except Exception as exc:  # noqa: BLE001 - sorted by _transient
                if not _transient(exc):
                    raise
                reason = "timed out" if isinstance(exc, (asyncio.TimeoutError, TimeoutError)) else (
                    f"{type(exc).__name__}: {exc}")
                problems.append(self._public(f"{redact_url(url)}: {reason}"))
            else:
                self._first = index
                return result
        raise NodeUnavailable("no Starknet node answered: " + "; ".join(problems[-len(self.urls):]))

    def _run(self, op: Callable[[FullNodeClient], Awaitable[T]]) -> T:
        return run_sync(lambda: self._on_nodes(op))

    def _account(self, client: FullNodeClient) -> Account:
        """The account on ``client``; its signer signs for the chain read first (:meth:`chain_id`)."""
        return Account(address=self.account_address, client=client, signer=KeySigner(self.key, self.chain_id()))

    # -- reads ----------------------------------------------------------------------

    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = int(self._run(lambda c: c.get_chain_id()), 16)
        return self._chain_id

    def nonce(self) -> int:
        """The account's next nonce, as the node sees it (pending transactions included)."""
        self.chain_id()
        return self._run(lambda c: self._account(c).get_nonce())

    def receipt(self, tx_hash: int) -> Receipt | None:
        """The receipt if the node has one (``None`` while it does not know the hash)."""
        try:
            r: Any = self._run(lambda c: c.get_transaction_receipt(tx_hash))
        except NodeRejected as exc:
            if exc.code == TXN_HASH_NOT_FOUND:
                return None
            raise
        if r.finality_status not in FINAL:
            return None
        return Receipt(tx_hash, r.execution_status.value == "SUCCEEDED", r.block_number,
                       self._public(r.revert_reason) if r.revert_reason else None,
                       {"amount": hex(r.actual_fee.amount), "unit": r.actual_fee.unit.value})

    def wait_for_receipt(self, tx_hash: int, timeout_s: float, poll_s: float = 2.0) -> Receipt | None:
        """Poll until the receipt is final or ``timeout_s`` passed (``None``); outages are waited through."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                found = self.receipt(tx_hash)
            except NodeUnavailable:
                found = None
            if found is not None or time.monotonic() + poll_s > deadline:
                return found
            time.sleep(poll_s)

    # -- the transaction --------------------------------------------------------------

    def transaction(self, call: Call, nonce: int, bounds: ResourceBoundsMapping) -> InvokeV3:
        """The invoke v3 transaction of ``call``, unsigned."""
        return InvokeV3(version=3, signature=[], nonce=nonce, resource_bounds=bounds, tip=0,
                        calldata=execute_calldata(call), sender_address=self.account_address)

    def sign(self, tx: InvokeV3) -> InvokeV3:
        """``tx`` signed for this chain (here: nothing is sent)."""
        return dataclasses.replace(tx, signature=KeySigner(self.key, self.chain_id()).sign_transaction(tx))

    def estimate(self, tx: InvokeV3) -> EstimatedFee:
        """``starknet_estimateFee`` of ``tx`` signed with the query version."""
        self.chain_id()
        return self._run(lambda c: self._account(c).estimate_fee(tx))  # type: ignore[return-value]

    def simulate(self, tx: InvokeV3) -> SimulatedTransaction:
        """``starknet_simulateTransactions`` of ``tx`` signed with the query version."""
        async def op(c: FullNodeClient) -> SimulatedTransaction:
            query = await self._account(c).sign_for_fee_estimate(tx)
            (simulated,) = await c.simulate_transactions([query])
            return simulated
        self.chain_id()
        return self._run(op)

    def send(self, tx: InvokeV3) -> int:
        """``starknet_addInvokeTransaction``; the hash the node gives back (it must be ours)."""
        sent = self._run(lambda c: c.send_transaction(tx))
        return sent.transaction_hash


def rebuilt(calldata: list[str], nonce: int, bounds: dict, signature: list[str], sender_address: int) -> InvokeV3:
    """A recorded transaction, exactly as it was signed (to send it again unchanged)."""
    return InvokeV3(version=3, signature=[int(x, 16) for x in signature], nonce=nonce,
                    resource_bounds=bounds_from_json(bounds), tip=0, calldata=[int(x, 16) for x in calldata],
                    sender_address=sender_address)


def revert_reason_of(simulated: SimulatedTransaction) -> str | None:
    """The revert reason of a simulation (``None`` when the call would succeed)."""
    trace: Any = simulated.transaction_trace
    return getattr(trace.execute_invocation, "revert_reason", None)

