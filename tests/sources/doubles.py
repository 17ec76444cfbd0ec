"""Test doubles for the live sources: real HTTP servers on 127.0.0.1.

Each double is a ``ThreadingHTTPServer`` on an ephemeral port, serving in a
background thread, so the sources under test go through their real HTTP
stacks (``requests`` for the Ekubo API, aiohttp inside starknet-py for the
node). Doubles record every request so tests can count them, and can be told
to misbehave: fail with a status, answer slowly, or answer garbage.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from starknet_py.constants import EXPECTED_RPC_VERSION
from starknet_py.hash.selector import get_selector_from_name


INTEGRITY_CONFIG = ("recursive", "keccak_160_lsb", "stone5", "strict")


def integrity_verification(fact: int, bits: int, config: tuple[str, ...] = INTEGRITY_CONFIG, *,
                           tamper: bool = False) -> list[int]:
    """One ``VerificationListElement`` as Integrity stores it: its verification hash computed the way
    Integrity does (``tamper``: off by one), the security bits, the four config short strings."""
    from starknet_py.cairo.felt import encode_shortstring

    from zk_pipeline.facts.hashing import poseidon_hash_many, verification_hash

    felts = [encode_shortstring(c) for c in config]
    vh = verification_hash(fact, poseidon_hash_many(felts), bits)
    return [vh + 1 if tamper else vh, bits, *felts]


def closed_port_url(path: str = "/") -> str:
    """A URL on 127.0.0.1 where nothing listens (the port was just released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    body: Any = None


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def _dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        request = Recorded(method, parts.path, query, body)
        status, headers, payload = self.server.double._respond(request)
        if isinstance(payload, (bytes, str)):
            data = payload.encode() if isinstance(payload, str) else payload
        else:
            data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            for k, v in {"Content-Type": "application/json", **headers}.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout tests)
            pass

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    double: "HttpDouble"


class HttpDouble:
    """Base of the doubles: lifecycle, request log and scripted failures."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.delay_s = 0.0
        self._fail_queue: list[tuple[str, int, dict[str, str]]] = []
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.double = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> "HttpDouble":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def fail_next(self, path_contains: str, *statuses: int, headers: dict[str, str] | None = None) -> None:
        """The next requests whose path contains ``path_contains`` get these statuses, in order."""
        with self._lock:
            self._fail_queue += [(path_contains, s, headers or {}) for s in statuses]

    def count(self, path_contains: str = "") -> int:
        with self._lock:
            return sum(1 for r in self.requests if path_contains in r.path)

    def _respond(self, request: Recorded) -> tuple[int, dict[str, str], Any]:
        with self._lock:
            self.requests.append(request)
            failure = next((f for f in self._fail_queue if f[0] in request.path), None)
            if failure:
                self._fail_queue.remove(failure)
        if self.delay_s:
            time.sleep(self.delay_s)
        if failure:
            return failure[1], failure[2], {"error": f"scripted failure {failure[1]}"}
        return self.handle(request)

    def handle(self, request: Recorded) -> tuple[int, dict[str, str], Any]:
        raise NotImplementedError


def js_time(ts: datetime) -> str:
    """A time the way a JavaScript ``Date`` serialises to JSON."""
    return ts.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@dataclass
class EkuboPairData:
    """What the Ekubo API double knows about one pair (raw integer token amounts)."""

    top_pools: list[dict[str, Any]] = field(default_factory=list)
    #: hour → raw VWAP (smallest quote unit per smallest base unit)
    vwap_by_hour: dict[datetime, float] = field(default_factory=dict)
    #: pool_id (or "" for the unfiltered pair) → tvl / volume bodies
    tvl: dict[str, dict[str, Any]] = field(default_factory=dict)
    volume: dict[str, dict[str, Any]] = field(default_factory=dict)


class EkuboApiDouble(HttpDouble):
    """Speaks the subset of Ekubo's public API that ``EkuboApiSource`` uses.

    Routes: ``/pair/{chain}/{a}/{b}/pools|tvl|volume`` and
    ``/price/{chain}/{base}/{quote}/history``. Like the real API, a price
    history request may cover at most 120 intervals (400 otherwise).
    ``malformed`` makes every answer a body that is not JSON.
    """

    def __init__(self, data: EkuboPairData) -> None:
        super().__init__()
        self.data = data
        self.malformed = False

    def handle(self, request: Recorded) -> tuple[int, dict[str, str], Any]:
        if self.malformed:
            return 200, {}, "<html>upstream error</html>"
        parts = request.path.strip("/").split("/")
        if len(parts) == 5 and parts[0] == "pair":
            pool_id = request.query.get("poolId", "")
            if parts[4] == "pools":
                return 200, {}, {"topPools": self.data.top_pools}
            if parts[4] == "tvl" and pool_id in self.data.tvl:
                return 200, {}, self.data.tvl[pool_id]
            if parts[4] == "volume" and pool_id in self.data.volume:
                return 200, {}, self.data.volume[pool_id]
        if len(parts) == 5 and parts[0] == "price" and parts[4] == "history":
            return self._history(request.query)
        return 404, {}, {"error": "not found"}

    def _history(self, query: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        interval, start, end = int(query["interval"]), int(query["start"]), int(query["end"])
        if (end - start) / interval > 120:
            return 400, {}, {"error": "Interval too small for the range"}
        points = [
            {"start": js_time(hour), "vwap": vwap, "min": vwap, "max": vwap, "k_volume": "1"}
            for hour, vwap in sorted(self.data.vwap_by_hour.items())
            if start <= hour.timestamp() < end
        ]
        return 200, {}, {"timestamp": int(time.time() * 1000), "start": start * 1000, "end": end * 1000,
                         "interval": interval, "data": points}


# -- Starknet node ---------------------------------------------------------------

CONTRACT_NOT_FOUND = {"code": 20, "message": "Contract not found"}
CONTRACT_ERROR = {"code": 40, "message": "Contract error"}


def felt(value: int) -> str:
    return hex(value)


def u256_felts(value: int) -> list[int]:
    return [value & (2**128 - 1), value >> 128]


class StarknetJsonRpcDouble(HttpDouble):
    """A Starknet node speaking JSON-RPC 2.0 over HTTP POST.

    Answers ``starknet_specVersion`` (by default with the version the
    installed starknet-py expects), ``starknet_blockNumber``, ``starknet_chainId`` and
    ``starknet_call``. Contracts are registered as functions
    ``(calldata) -> felts`` under (address, selector); a call to anything else
    gets the node's "contract not found" / "contract error" answers.

    Misbehaviour: ``fail_methods`` answer with a JSON-RPC internal error,
    ``malformed`` answers ``starknet_call`` with felts that are not hex.
    """

    def __init__(self, block_number: int = 1_234_567) -> None:
        super().__init__()
        self.block_number = block_number
        self.contracts: dict[int, dict[int, Callable[[list[int]], list[int]]]] = {}
        self.fail_methods: set[str] = set()
        self.malformed = False
        self.spec_version = EXPECTED_RPC_VERSION

    def methods(self) -> list[str]:
        with self._lock:
            return [r.body.get("method") for r in self.requests if isinstance(r.body, dict)]

    def register(self, address: int | str, function: str, impl: Callable[[list[int]], list[int]]) -> None:
        address = int(address, 16) if isinstance(address, str) else address
        self.contracts.setdefault(address, {})[get_selector_from_name(function)] = impl

    def add_ekubo_pool(self, core: str, pool_key: list[int], sqrt_ratio: int, liquidity: int) -> None:
        """Core answers ``get_pool_price``/``get_pool_liquidity`` for exactly this pool key."""

        def price(calldata: list[int]) -> list[int]:
            if calldata != pool_key:
                raise LookupError("unknown pool key")
            return [*u256_felts(sqrt_ratio), 7, 0]  # sqrt_ratio low/high, tick {mag, sign}

        def liq(calldata: list[int]) -> list[int]:
            if calldata != pool_key:
                raise LookupError("unknown pool key")
            return [liquidity]

        self._chain(core, "get_pool_price", pool_key, price)
        self._chain(core, "get_pool_liquidity", pool_key, liq)

    def _chain(self, address: str, function: str, key: list[int], impl: Callable[[list[int]], list[int]]) -> None:
        """Several pools share the Core contract: try each registered pool in turn."""
        previous = self.contracts.get(int(address, 16), {}).get(get_selector_from_name(function))

        def chained(calldata: list[int]) -> list[int]:
            try:
                return impl(calldata)
            except LookupError:
                if previous is None:
                    raise
                return previous(calldata)

        self.register(address, function, chained)

    def add_jediswap_pool(self, address: int, sqrt_price_x96: int, liquidity: int) -> None:
        self.register(address, "get_sqrt_price_X96", lambda _: u256_felts(sqrt_price_x96))
        self.register(address, "get_liquidity", lambda _: [liquidity])

    def add_jediswap_factory(self, factory: str, pools: dict[tuple[int, int, int], int]) -> None:
        """``get_pool(a, b, fee)`` in either token order, 0 for an unknown pool (as on-chain)."""

        def get_pool(calldata: list[int]) -> list[int]:
            a, b, fee = calldata
            return [pools.get((min(a, b), max(a, b), fee), 0)]

        self.register(factory, "get_pool", get_pool)

    def add_integrity_registry(self, address: int,
                               verifications: dict[int, list[list[int]]] | Callable[[int], list[list[int]]]) -> None:
        """Integrity's FactRegistry view ``get_all_verifications_for_fact_hash(fact_hash)``: the Serde of
        ``Array<VerificationListElement>`` (length, then six felts per element; see
        :func:`integrity_verification`), empty for facts ``verifications`` does not know."""
        lookup = verifications if callable(verifications) else (lambda fact: verifications.get(fact, []))

        def get_all(calldata: list[int]) -> list[int]:
            (fact,) = calldata
            elements = lookup(fact)
            return [len(elements)] + [x for e in elements for x in e]

        self.register(address, "get_all_verifications_for_fact_hash", get_all)

    def handle(self, request: Recorded) -> tuple[int, dict[str, str], Any]:
        body = request.body
        if request.method != "POST" or not isinstance(body, dict) or body.get("jsonrpc") != "2.0":
            return 400, {}, {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "Invalid Request"}}
        rid, method, params = body.get("id"), body.get("method"), body.get("params")

        def ok(result: Any) -> tuple[int, dict[str, str], Any]:
            return 200, {}, {"jsonrpc": "2.0", "id": rid, "result": result}

        def err(error: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
            return 200, {}, {"jsonrpc": "2.0", "id": rid, "error": error}

        if method in self.fail_methods:
            return err({"code": -32603, "message": "Internal error"})
        if method == "starknet_specVersion":
            return ok(self.spec_version)
        if method == "starknet_blockNumber":
            return ok(self.block_number)
        if method == "starknet_chainId":
            return ok(felt(0x534E5F4D41494E))
        if method == "starknet_call":
            return self._call(params, ok, err)
        return err({"code": -32601, "message": "Method not found"})

    def _call(self, params: Any, ok: Callable[[Any], Any], err: Callable[[Any], Any]) -> Any:
        try:
            req = params["request"]
            block_id = params["block_id"]
            address = int(req["contract_address"], 16)
            selector = int(req["entry_point_selector"], 16)
            calldata = [int(x, 16) for x in req["calldata"]]
        except (KeyError, TypeError, ValueError):
            return err({"code": -32602, "message": "Invalid params"})
        if block_id not in ("latest", "pre_confirmed", {"block_number": self.block_number}):
            return err({"code": 24, "message": "Block not found"})
        if address not in self.contracts:
            return err(CONTRACT_NOT_FOUND)
        impl = self.contracts[address].get(selector)
        if impl is None:
            return err({**CONTRACT_ERROR, "data": {"revert_error": "ENTRYPOINT_NOT_FOUND"}})
        try:
            result = impl(calldata)
        except LookupError as exc:
            return err({**CONTRACT_ERROR, "data": {"revert_error": str(exc)}})
        if self.malformed:
            return ok(["not-a-felt" for _ in result])
        return ok([felt(x) for x in result])
