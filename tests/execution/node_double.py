"""``StarknetNodeDouble``: a test double of a Starknet node for sending transactions, over real HTTP.

No Starknet node can run where the tests run, so this double stands at that boundary. It extends the
read-only ``StarknetJsonRpcDouble`` (``tests/sources/doubles.py``: ``starknet_specVersion``,
``starknet_blockNumber``, ``starknet_call``) with accounts and the write path of JSON-RPC 0.10:
``starknet_chainId``, ``starknet_getNonce``, ``starknet_estimateFee``, ``starknet_simulateTransactions``,
``starknet_addInvokeTransaction``, ``starknet_getTransactionReceipt`` and ``starknet_getTransactionStatus``,
with the spec's result shapes and error codes.

Like a node it trusts nothing it is sent: it recomputes every invoke v3 transaction hash itself
(starknet-py's ``InvokeV3.calculate_hash`` for its chain id) and checks the signature against the
public key of the sending account (``verify_message_signature``): a bad signature is error 55
(validation failure), a nonce other than the account's is 52 (invalid nonce), resource bounds that do
not cover the fee are 53, a transaction it holds already is 59, a query-version transaction sent for
inclusion is 61. Estimation and simulation run the same checks (their failures are error 41).

A sent transaction executes the account's ``__execute__`` calldata (Cairo 1 ``Array<Call>``) against
the contracts registered with :meth:`register` (a function of the calldata; ``LookupError`` reverts
with its message). Scripted misbehaviour: ``estimate_fails``, ``hold_receipts`` (the node knows the
transaction but has no receipt yet), ``http_status`` (answer some methods with an HTTP error).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starknet_py.constants import QUERY_VERSION_BASE
from starknet_py.hash.selector import get_selector_from_name
from starknet_py.hash.utils import verify_message_signature
from starknet_py.net.client_models import ResourceBounds, ResourceBoundsMapping
from starknet_py.net.models.transaction import InvokeV3

from tests.sources.doubles import Recorded, StarknetJsonRpcDouble, felt

SN_SEPOLIA = 0x534E5F5345504F4C4941
CONTRACT_NOT_FOUND = {"code": 20, "message": "Contract not found"}
TXN_HASH_NOT_FOUND = {"code": 29, "message": "Transaction hash not found"}
TRANSACTION_EXECUTION_ERROR = 41
INVALID_TRANSACTION_NONCE = 52
INSUFFICIENT_RESOURCES = {"code": 53, "message": "The transaction's resources don't cover validation or the "
                                                 "minimal transaction fee"}
VALIDATION_FAILURE = 55
DUPLICATE_TX = {"code": 59, "message": "A transaction with the same hash already exists in the mempool"}
UNSUPPORTED_TX_VERSION = {"code": 61, "message": "The transaction version is not supported"}
INVALID_PARAMS = {"code": -32602, "message": "Invalid params"}

#: What one invoke costs on this node (gas consumed, price per unit in fri).
L1_GAS, L1_DATA_GAS, L2_GAS_BASE, L2_GAS_PER_FELT = 0, 192, 880_000, 2_000
PRICES = {"l1_gas": 20_000_000_000_000, "l1_data_gas": 5_000_000_000, "l2_gas": 3_000_000_000}


@dataclass
class AccountState:
    public_key: int
    nonce: int = 0


@dataclass
class SentTransaction:
    hash: int
    nonce: int
    calldata: list[int]
    revert_reason: str | None
    block_number: int
    gas: dict[str, int] = field(default_factory=dict)


class StarknetNodeDouble(StarknetJsonRpcDouble):
    """A Starknet node (test double) that holds accounts and takes invoke v3 transactions."""

    def __init__(self, chain_id: int = SN_SEPOLIA, block_number: int = 500_000) -> None:
        super().__init__(block_number=block_number)
        self.chain_id = chain_id
        self.accounts: dict[int, AccountState] = {}
        self.sent: dict[int, SentTransaction] = {}
        self.estimate_fails = False
        self.hold_receipts = False
        #: JSON-RPC method -> HTTP status every call of it gets (a gateway in trouble).
        self.http_status: dict[str, int] = {}

    # -- set-up ----------------------------------------------------------------------

    def add_account(self, address: int, public_key: int, nonce: int = 0) -> None:
        self.accounts[address] = AccountState(public_key, nonce)

    def invokes(self) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if isinstance(r.body, dict)
                    and r.body.get("method") == "starknet_addInvokeTransaction"]

    # -- transactions --------------------------------------------------------------------

    def _transaction(self, raw: dict[str, Any]) -> tuple[InvokeV3, int]:
        """The transaction ``raw`` describes and its hash, recomputed here; ``ValueError`` if malformed."""
        if raw.get("type") != "INVOKE" or raw.get("paymaster_data") or raw.get("account_deployment_data"):
            raise ValueError("only plain invoke transactions")
        if raw.get("nonce_data_availability_mode") != "L1" or raw.get("fee_data_availability_mode") != "L1":
            raise ValueError("L1 data availability only")
        bounds = ResourceBoundsMapping(**{
            name: ResourceBounds(int(raw["resource_bounds"][name]["max_amount"], 16),
                                 int(raw["resource_bounds"][name]["max_price_per_unit"], 16))
            for name in ("l1_gas", "l1_data_gas", "l2_gas")})
        tx = InvokeV3(version=int(raw["version"], 16), signature=[int(x, 16) for x in raw["signature"]],
                      nonce=int(raw["nonce"], 16), resource_bounds=bounds, tip=int(raw["tip"], 16),
                      calldata=[int(x, 16) for x in raw["calldata"]], sender_address=int(raw["sender_address"], 16))
        return tx, tx.calculate_hash(self.chain_id)

    def _validate(self, tx: InvokeV3, tx_hash: int) -> tuple[int, str] | None:
        """The node's validation: (error code, reason) when the account would refuse the transaction."""
        account = self.accounts.get(tx.sender_address)
        if account is None:
            return CONTRACT_NOT_FOUND["code"], f"no account at {hex(tx.sender_address)}"
        if tx.nonce != account.nonce:
            return INVALID_TRANSACTION_NONCE, (f"Invalid transaction nonce of contract at address "
                                               f"{hex(tx.sender_address)}. Account nonce: {account.nonce}; "
                                               f"got: {tx.nonce}.")
        if len(tx.signature) != 2 or not verify_message_signature(tx_hash, tx.signature, account.public_key):
            return VALIDATION_FAILURE, "Account validation failed: invalid signature"
        return None

    def _gas(self, tx: InvokeV3) -> dict[str, int]:
        return {"l1_gas": L1_GAS, "l1_data_gas": L1_DATA_GAS, "l2_gas": L2_GAS_BASE + L2_GAS_PER_FELT * len(tx.calldata)}

    def _execute(self, tx: InvokeV3) -> tuple[str | None, list[dict[str, Any]]]:
        """Run ``__execute__``'s calls: (revert reason or None, the invocations)."""
        data, calls = tx.calldata, []
        try:
            count, i = data[0], 1
            for _ in range(count):
                to, selector, n = data[i], data[i + 1], data[i + 2]
                calls.append((to, selector, data[i + 3: i + 3 + n]))
                i += 3 + n
            if i != len(data):
                raise IndexError
        except IndexError:
            return "Failed to deserialize param #1", []
        invocations = []
        for to, selector, calldata in calls:
            impl = self.contracts.get(to, {}).get(selector)
            if impl is None:
                return f"Requested contract address {hex(to)} is not deployed or has no such entry point", []
            try:
                result = impl(calldata)
            except LookupError as exc:
                return str(exc.args[0] if exc.args else exc), []
            invocations.append(_invocation(to, selector, calldata, tx.sender_address, result))
        return None, invocations

    def _fee(self, tx: InvokeV3) -> dict[str, str]:
        gas = self._gas(tx)
        total = sum(gas[k] * PRICES[k] for k in gas)
        return {"l1_gas_consumed": hex(gas["l1_gas"]), "l1_gas_price": hex(PRICES["l1_gas"]),
                "l2_gas_consumed": hex(gas["l2_gas"]), "l2_gas_price": hex(PRICES["l2_gas"]),
                "l1_data_gas_consumed": hex(gas["l1_data_gas"]), "l1_data_gas_price": hex(PRICES["l1_data_gas"]),
                "overall_fee": hex(total), "unit": "FRI"}

    def _covers(self, tx: InvokeV3) -> bool:
        gas, b = self._gas(tx), tx.resource_bounds
        return all(getattr(b, k).max_amount >= gas[k] and (gas[k] == 0 or getattr(b, k).max_price_per_unit >= PRICES[k])
                   for k in gas)

    # -- JSON-RPC ------------------------------------------------------------------------

    def handle(self, request: Recorded) -> tuple[int, dict[str, str], Any]:
        body = request.body
        if not isinstance(body, dict) or body.get("jsonrpc") != "2.0":
            return super().handle(request)
        rid, method, params = body.get("id"), body.get("method"), body.get("params") or {}
        if method in self.http_status:
            return self.http_status[method], {"Content-Type": "text/html"}, "<html>upstream unavailable</html>"

        def ok(result: Any) -> tuple[int, dict[str, str], Any]:
            return 200, {}, {"jsonrpc": "2.0", "id": rid, "result": result}

        def err(code: int, message: str, data: Any = None) -> tuple[int, dict[str, str], Any]:
            error = {"code": code, "message": message, **({"data": data} if data is not None else {})}
            return 200, {}, {"jsonrpc": "2.0", "id": rid, "error": error}

        if method in self.fail_methods:
            return err(-32603, "Internal error")
        try:
            if method == "starknet_chainId":
                return ok(felt(self.chain_id))
            if method == "starknet_getNonce":
                account = self.accounts.get(int(params["contract_address"], 16))
                return ok(felt(account.nonce)) if account else err(**CONTRACT_NOT_FOUND)
            if method in ("starknet_estimateFee", "starknet_simulateTransactions"):
                return self._estimate_or_simulate(method, params, ok, err)
            if method == "starknet_addInvokeTransaction":
                return self._add_invoke(params["invoke_transaction"], ok, err)
            if method == "starknet_getTransactionReceipt":
                return self._receipt(int(params["transaction_hash"], 16), ok, err)
            if method == "starknet_getTransactionStatus":
                return self._status(int(params["transaction_hash"], 16), ok, err)
        except (KeyError, TypeError, ValueError) as exc:
            return err(**INVALID_PARAMS, data=str(exc))
        return super().handle(request)

    def _estimate_or_simulate(self, method: str, params: dict, ok, err):
        raws = params["request"] if method == "starknet_estimateFee" else params["transactions"]
        skip_validate = "SKIP_VALIDATE" in params.get("simulation_flags", [])
        results = []
        for index, raw in enumerate(raws):
            tx, tx_hash = self._transaction(raw)
            problem = None if skip_validate else self._validate(tx, tx_hash)
            if problem is not None:
                return err(TRANSACTION_EXECUTION_ERROR, "Transaction execution error",
                           {"transaction_index": index, "execution_error": problem[1]})
            revert, invocations = self._execute(tx)
            if method == "starknet_estimateFee":
                if self.estimate_fails or revert is not None:
                    reason = revert or "Fee estimation is not available on this node right now"
                    return err(TRANSACTION_EXECUTION_ERROR, "Transaction execution error",
                               {"transaction_index": index, "execution_error": reason})
                results.append(self._fee(tx))
            else:
                results.append({"transaction_trace": _trace(tx, self._gas(tx), revert, invocations),
                                "fee_estimation": self._fee(tx)})
        return ok(results)

    def _add_invoke(self, raw: dict, ok, err):
        tx, tx_hash = self._transaction(raw)
        if tx.version >= QUERY_VERSION_BASE:
            return err(**UNSUPPORTED_TX_VERSION)
        if tx_hash in self.sent:
            return err(**DUPLICATE_TX)
        problem = self._validate(tx, tx_hash)
        if problem is not None:
            code, reason = problem
            message = {INVALID_TRANSACTION_NONCE: "Invalid transaction nonce",
                       VALIDATION_FAILURE: "Account validation failed"}.get(code, "Contract not found")
            return err(code, message, reason)
        if not self._covers(tx):
            return err(**INSUFFICIENT_RESOURCES)
        revert, _ = self._execute(tx)
        self.accounts[tx.sender_address].nonce += 1
        self.block_number += 1
        self.sent[tx_hash] = SentTransaction(tx_hash, tx.nonce, tx.calldata, revert, self.block_number, self._gas(tx))
        return ok({"transaction_hash": felt(tx_hash)})

    def _receipt(self, tx_hash: int, ok, err):
        sent = self.sent.get(tx_hash)
        if sent is None or self.hold_receipts:
            return err(**TXN_HASH_NOT_FOUND)
        receipt = {
            "type": "INVOKE", "transaction_hash": felt(tx_hash),
            "actual_fee": {"amount": felt(sum(sent.gas[k] * PRICES[k] for k in sent.gas)), "unit": "FRI"},
            "execution_status": "REVERTED" if sent.revert_reason else "SUCCEEDED",
            "finality_status": "ACCEPTED_ON_L2", "block_hash": felt(0xB10C + sent.block_number),
            "block_number": sent.block_number, "messages_sent": [], "events": [],
            "execution_resources": dict(sent.gas),
        }
        if sent.revert_reason:
            receipt["revert_reason"] = sent.revert_reason
        return ok(receipt)

    def _status(self, tx_hash: int, ok, err):
        sent = self.sent.get(tx_hash)
        if sent is None:
            return err(**TXN_HASH_NOT_FOUND)
        if self.hold_receipts:
            return ok({"finality_status": "RECEIVED"})
        status = {"finality_status": "ACCEPTED_ON_L2",
                  "execution_status": "REVERTED" if sent.revert_reason else "SUCCEEDED"}
        if sent.revert_reason:
            status["failure_reason"] = sent.revert_reason
        return ok(status)


def _invocation(to: int, selector: int, calldata: list[int], caller: int, result: list[int]) -> dict[str, Any]:
    return {"contract_address": felt(to), "entry_point_selector": felt(selector), "calldata": [felt(x) for x in calldata],
            "caller_address": felt(caller), "class_hash": felt(0xC1A55), "entry_point_type": "EXTERNAL",
            "call_type": "CALL", "result": [felt(x) for x in result], "calls": [], "events": [], "messages": [],
            "execution_resources": {"l1_gas": 0, "l2_gas": 40_000}, "is_reverted": False}


def _trace(tx: InvokeV3, gas: dict[str, int], revert: str | None, invocations: list[dict]) -> dict[str, Any]:
    account = tx.sender_address
    validate = _invocation(account, get_selector_from_name("__validate__"), tx.calldata, 0, [])
    if revert is not None:
        execute: dict[str, Any] = {"revert_reason": revert}
    else:
        execute = _invocation(account, get_selector_from_name("__execute__"), tx.calldata, 0, [])
        execute["calls"] = invocations
    return {"type": "INVOKE", "validate_invocation": validate, "execute_invocation": execute,
            "execution_resources": dict(gas)}
