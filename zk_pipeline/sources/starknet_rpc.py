"""Live pool state read straight from a Starknet node over JSON-RPC.

Reads go through starknet-py's ``FullNodeClient.call_contract`` (the node's
``starknet_call``), all pinned to the block number read first, so the price
and the liquidity of a pool always come from the same state:

* **Ekubo** — Core's ``get_pool_price(pool_key)`` returns ``PoolPrice``
  ``{sqrt_ratio: u256, tick: i129}`` (``sqrt_ratio`` is 64.128 fixed point, sent
  as two felts low/high) and ``get_pool_liquidity(pool_key)`` a ``u128``.
  ``pool_key`` is ``(token0, token1, fee, tick_spacing, extension)``.
* **JediSwap v2** — the pool's ``get_sqrt_price_X96()`` (``u256``, Q64.96) and
  ``get_liquidity()`` (``u128``). A pool without a configured address is
  looked up once through the factory's ``get_pool(token_a, token_b, fee)``.

With ``s = sqrt_price / 2**k`` (``k`` = 128 for Ekubo, 96 for JediSwap) and
token0 the token with the smaller address, the raw price is ``s**2`` token1
units per token0 unit, and in human units ``s**2 * 10**(dec0 - dec1)``; the
source reports it as quote per base, inverting when the base is token1.

``tvl_usd`` is an **approximation** from the in-range liquidity ``L``: the
virtual reserves of ``L`` at the current price are ``x = L/s`` and ``y = L*s``
(raw units), worth ``2*L*s`` token1 units (``2*L/s`` token0 units), valued in
the quote token and then in USD through the quote's peg. It overstates what
in-range positions really hold when their ranges are narrow, and ignores
liquidity that is out of range, so it tracks the pool's *active* depth rather
than its balance sheet.

Known limitations, by design:

* Only one hour exists: the state of the latest block at the time of the
  call stands for the *close of the most recent complete hour* (the hourly
  schedule reads it a few minutes after the hour turns), so a snapshot
  read at 14:05 is the row of hour 13:00. A window that does not contain
  that hour yields an empty frame; history accumulates in the database.
* ``volume_usd`` and ``fees_usd`` are ``0.0``: a node has no volume counter,
  and summing swap events over the hour would need block-by-time search and
  event decoding per protocol, which this source does not do. Downstream,
  fee-based features are therefore zero for this source.

A backup node is tried when the primary fails (connection error, timeout,
HTTP or JSON-RPC error, unreadable answer). If both fail, ``SourceError``
names each node by its redacted URL (no query string, no key-like path
segment) with the reason it failed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from fractions import Fraction

import aiohttp
import pandas as pd
from starknet_py.hash.selector import get_selector_from_name
from starknet_py.net.client_models import Call
from starknet_py.net.full_node_client import FullNodeClient

from zk_pipeline.hours import latest_complete_hour
from zk_pipeline.sources.base import SNAPSHOT_COLUMNS, MetricsSource, SourceError, Window, empty_snapshots
from zk_pipeline.sources.ekubo_api import (
    EKUBO_FEE_0_05_PCT,
    EKUBO_TICK_SPACING_0_05_PCT,
    Token,
    pool_name,
    require_usd_quote,
    resolve_token,
)
from zk_pipeline.redaction import public_text, redact_url
from zk_pipeline.starknet_client import NODE_ERRORS, read_node

EKUBO_CORE_MAINNET = "0x00000005dd3D2F4429AF886cD1a3b08289DBcEa99A294197E9eB43b0e0325b4b"
JEDISWAP_V2_FACTORY_MAINNET = "0x01aa950c9b974294787de8df8880ecf668840a6ab8fa8290bf2952212b375148"
U128 = 2**128
#: A node's failure reason is cut to this length (they can quote whole responses).
MAX_REASON_CHARS = 240

#: Everything a bad node can make the read raise, so that each one moves on to the backup node.
_NODE_ERRORS: tuple[type[BaseException], ...] = (*NODE_ERRORS, SourceError)


@dataclass(frozen=True)
class EkuboPoolSpec:
    """An Ekubo pool by its key; ``fee`` is 0.128 fixed point (1 % == 2**128 // 100)."""

    base: Token | str
    quote: Token | str
    fee: int = EKUBO_FEE_0_05_PCT
    tick_spacing: int = EKUBO_TICK_SPACING_0_05_PCT
    extension: str = "0x0"


@dataclass(frozen=True)
class JediSwapPoolSpec:
    """A JediSwap v2 pool; ``fee_ppm`` in hundredths of a bip (3000 == 0.3 %)."""

    base: Token | str
    quote: Token | str
    fee_ppm: int = 3000
    address: str | None = None


DEFAULT_EKUBO_POOLS: tuple[EkuboPoolSpec, ...] = (EkuboPoolSpec("WBTC", "USDC"),)
DEFAULT_JEDISWAP_POOLS: tuple[JediSwapPoolSpec, ...] = (JediSwapPoolSpec("WBTC", "USDC"),)


def price_and_tvl(
    sqrt_price: int, frac_bits: int, liquidity: int, *, base: Token, quote: Token
) -> tuple[float, float]:
    """(price in quote per base, approximate TVL in quote units) — see the module docstring.

    Exact rational arithmetic up to the final conversion, so the result does
    not depend on the order of float operations.
    """
    if sqrt_price <= 0:
        raise SourceError("pool reports a zero sqrt price (not initialised)")
    base_is_token0 = base.address_int < quote.address_int
    token0, token1 = (base, quote) if base_is_token0 else (quote, base)
    s = Fraction(sqrt_price, 2**frac_bits)
    price_1_per_0 = s * s * Fraction(10**token0.decimals, 10**token1.decimals)
    if base_is_token0:
        return float(price_1_per_0), float(2 * liquidity * s / 10**token1.decimals)
    return float(1 / price_1_per_0), float(2 * liquidity / s / 10**token0.decimals)


def _u256(felts: list[int], what: str) -> int:
    if len(felts) < 2:
        raise SourceError(f"{what}: expected a u256 (two felts), got {len(felts)} felt(s)")
    low, high = felts[0], felts[1]
    if not (0 <= low < U128 and 0 <= high < U128):
        raise SourceError(f"{what}: u256 limbs out of range")
    return low + (high << 128)


def _single(felts: list[int], what: str) -> int:
    if not felts:
        raise SourceError(f"{what}: empty result")
    return felts[0]


@dataclass(frozen=True)
class _PoolRead:
    """How to read one pool: two calls and the fixed-point format of the answer."""

    protocol: str
    name: str
    base: Token
    quote: Token
    price_call: Call
    liquidity_call: Call
    frac_bits: int


@dataclass(frozen=True)
class _PoolState:
    read: _PoolRead
    sqrt_price: int
    liquidity: int


class StarknetRpcSource(MetricsSource):
    name = "starknet_rpc"

    def __init__(
        self,
        node_url: str,
        backup_node_url: str | None = None,
        *,
        ekubo_pools: Sequence[EkuboPoolSpec] = DEFAULT_EKUBO_POOLS,
        jediswap_pools: Sequence[JediSwapPoolSpec] = DEFAULT_JEDISWAP_POOLS,
        ekubo_core: str = EKUBO_CORE_MAINNET,
        jediswap_factory: str = JEDISWAP_V2_FACTORY_MAINNET,
        timeout_s: float = 10.0,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if not node_url:
            raise ValueError("node_url is required")
        self.endpoints = [("primary", node_url)] + ([("backup", backup_node_url)] if backup_node_url else [])
        self.ekubo_core = int(ekubo_core, 16)
        self.jediswap_factory = int(jediswap_factory, 16)
        self.timeout_s = timeout_s
        self._clock = clock or (lambda: datetime.now(timezone.utc))
        self._ekubo_reads = [self._ekubo_read(spec) for spec in ekubo_pools]
        self._jediswap_specs = [self._checked_jediswap(spec) for spec in jediswap_pools]
        self._jediswap_addresses: dict[JediSwapPoolSpec, int] = {}

    # -- configuration --------------------------------------------------------

    @staticmethod
    def _pair(base: Token | str, quote: Token | str) -> tuple[Token, Token]:
        b, q = resolve_token(base), resolve_token(quote)
        if b.address_int == q.address_int:
            raise ValueError(f"pool base and quote are the same token ({b.symbol})")
        require_usd_quote(q)
        return b, q

    def _ekubo_read(self, spec: EkuboPoolSpec) -> _PoolRead:
        base, quote = self._pair(spec.base, spec.quote)
        token0, token1 = sorted((base.address_int, quote.address_int))
        pool_key = [token0, token1, spec.fee, spec.tick_spacing, int(spec.extension, 16)]
        return _PoolRead(
            protocol="ekubo",
            name=pool_name("ekubo", base, quote, spec.fee / 2**128),
            base=base,
            quote=quote,
            price_call=Call(self.ekubo_core, get_selector_from_name("get_pool_price"), pool_key),
            liquidity_call=Call(self.ekubo_core, get_selector_from_name("get_pool_liquidity"), pool_key),
            frac_bits=128,
        )

    def _checked_jediswap(self, spec: JediSwapPoolSpec) -> JediSwapPoolSpec:
        self._pair(spec.base, spec.quote)
        return spec

    def _jediswap_read(self, spec: JediSwapPoolSpec, address: int) -> _PoolRead:
        base, quote = self._pair(spec.base, spec.quote)
        return _PoolRead(
            protocol="jediswap",
            name=pool_name("jediswap", base, quote, spec.fee_ppm / 1_000_000),
            base=base,
            quote=quote,
            price_call=Call(address, get_selector_from_name("get_sqrt_price_X96"), []),
            liquidity_call=Call(address, get_selector_from_name("get_liquidity"), []),
            frac_bits=96,
        )

    # -- reading --------------------------------------------------------------

    async def _jediswap_address(self, client: FullNodeClient, spec: JediSwapPoolSpec, block: int) -> int:
        if spec.address:
            return int(spec.address, 16)
        if spec not in self._jediswap_addresses:
            base, quote = self._pair(spec.base, spec.quote)
            call = Call(
                self.jediswap_factory,
                get_selector_from_name("get_pool"),
                [base.address_int, quote.address_int, spec.fee_ppm],
            )
            address = _single(await client.call_contract(call, block_number=block), "jediswap get_pool")
            if address == 0:
                raise SourceError(
                    f"JediSwap v2 factory has no {base.symbol}/{quote.symbol} pool with fee {spec.fee_ppm} ppm"
                )
            self._jediswap_addresses[spec] = address
        return self._jediswap_addresses[spec]

    async def _read_pool(self, client: FullNodeClient, read: _PoolRead, block: int) -> _PoolState:
        price_felts, liquidity_felts = await asyncio.gather(
            client.call_contract(read.price_call, block_number=block),
            client.call_contract(read.liquidity_call, block_number=block),
        )
        return _PoolState(
            read=read,
            sqrt_price=_u256(price_felts, f"{read.name} sqrt price"),
            liquidity=_single(liquidity_felts, f"{read.name} liquidity"),
        )

    async def _read_all(self, url: str) -> tuple[int, list[_PoolState]]:
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            client = FullNodeClient(node_url=url, session=session)
            block = await client.get_block_number()
            if not isinstance(block, int) or isinstance(block, bool):
                raise SourceError(f"starknet_blockNumber returned {block!r}")
            reads = list(self._ekubo_reads)
            for spec in self._jediswap_specs:
                reads.append(self._jediswap_read(spec, await self._jediswap_address(client, spec, block)))
            states = await asyncio.gather(*(self._read_pool(client, r, block) for r in reads))
        return block, list(states)

    def _read_redacting_warnings(self, url: str) -> tuple[int, list[_PoolState]]:
        return read_node(url, lambda: self._read_all(url))

    def _reason(self, exc: BaseException, url: str) -> str:
        if isinstance(exc, TimeoutError):
            return f"timed out after {self.timeout_s:g}s"
        return public_text(f"{type(exc).__name__}: {exc}".rstrip(": "), [url], limit=MAX_REASON_CHARS)

    # -- snapshot -------------------------------------------------------------

    def snapshot_hour(self) -> datetime:
        return latest_complete_hour(self._clock())

    def coverage(self, window: Window) -> Window | None:
        hour = self.snapshot_hour()
        return Window(hour, 1) if window.start <= hour <= window.end else None

    def fetch(self, window: Window) -> pd.DataFrame:
        now_hour = self.snapshot_hour()
        if not window.start <= now_hour <= window.end:
            return empty_snapshots()
        failures: list[str] = []
        for label, url in self.endpoints:
            try:
                block, states = self._read_redacting_warnings(url)
            except _NODE_ERRORS as exc:
                failures.append(f"{label} node {redact_url(url)} failed: {self._reason(exc, url)}")
                continue
            frame = self._frame(pd.Timestamp(now_hour), states)
            frame.attrs.update({"block_number": block, "node": label})
            return frame
        raise SourceError("starknet rpc: no node could be read; " + "; ".join(failures))

    @staticmethod
    def _frame(hour: pd.Timestamp, states: list[_PoolState]) -> pd.DataFrame:
        rows = []
        for state in states:
            read = state.read
            price, tvl_quote = price_and_tvl(
                state.sqrt_price, read.frac_bits, state.liquidity, base=read.base, quote=read.quote
            )
            rows.append({
                "hour": hour,
                "protocol": read.protocol,
                "pool": read.name,
                "price": price,
                "tvl_usd": tvl_quote * require_usd_quote(read.quote),
                "volume_usd": 0.0,
                "fees_usd": 0.0,
            })
        if not rows:
            return empty_snapshots()
        return pd.DataFrame(rows, columns=list(SNAPSHOT_COLUMNS))
