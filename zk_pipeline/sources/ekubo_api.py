"""Ekubo snapshots from Ekubo's public HTTP API (``https://prod-api.ekubo.org``).

One source instance follows one Ekubo pool of one token pair (default: the
WBTC/USDC 0.05 % pool on Starknet mainnet) and produces hourly rows with
``protocol='ekubo'`` and ``pool='ekubo:WBTC/USDC:0.05%'``.

Endpoints and the response shapes this module relies on (taken from the API's
OpenAPI description; only the fields read here are listed). Token amounts are
integers in the token's smallest unit, sent as strings; addresses and fees are
hex or decimal strings::

    GET /pair/{chainId}/{tokenA}/{tokenB}/pools
        {"topPools": [{"pool_id": str, "core_address": str, "fee": str,
                       "tick_spacing": int | null, "extension": str, ...}]}
    GET /pair/{chainId}/{tokenA}/{tokenB}/tvl?poolId=&coreAddress=
        {"tvlByToken": [{"token": str, "balance": str}],
         "tvlDeltaByTokenByDate": [{"token": str, "date": str, "delta": str}]}
    GET /pair/{chainId}/{tokenA}/{tokenB}/volume?poolId=&coreAddress=
        {"volumeByTokenByDate": [{"token": str, "date": str, "volume": str,
                                  "fees": str}], ...}
    GET /price/{chainId}/{baseToken}/{quoteToken}/history?interval=&start=&end=
        {"data": [{"start": ISO-8601 str, "vwap": float, "min": float,
                   "max": float, "k_volume": str}], ...}

``start``/``end`` are unix seconds, ``interval`` seconds; one history request
may span at most 120 intervals, so longer windows are fetched in chunks.
``vwap`` is the volume-weighted price in *raw* units (smallest unit of the
quote per smallest unit of the base), hence the ``10**(dec_base - dec_quote)``
scaling. Volume is counted once per swap, in the token sold into the pool.

How the snapshot columns are derived, with the simplifications this implies:

* ``price``: the hour's VWAP. Hours without swaps have no price point and
  therefore no row; the quality rules decide whether to fill them.
* ``tvl_usd``: the pool's token balances are known *now* plus per-day deltas
  for the last 30 days. The balance at the end of day D is rebuilt as
  ``now - sum(deltas of days after D)`` and used for every hour of D, so
  intra-day TVL moves are invisible (days older than the delta history get
  the oldest rebuilt balance). Balances are valued at the hour's price.
* ``volume_usd``: the API only has per-day volume; each day's volume is spread
  evenly over its 24 hours, and today's volume over the hours elapsed so far
  (including the current, partial, hour).
* ``fees_usd``: ``volume_usd * fee / 2**128`` (Ekubo fees are 0.128 fixed point).
* USD: the quote token must be a USD-pegged token (``Token.usd_price``); the
  base is valued through the pool price.

The tvl and volume requests are narrowed to the configured pool with the
``poolId``/``coreAddress`` filters the ``pools`` answer provides.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

import pandas as pd

from zk_pipeline.sources.base import (
    SNAPSHOT_COLUMNS,
    MetricsSource,
    SourceError,
    Window,
    empty_snapshots,
)
from zk_pipeline.hours import HOUR, floor_hour
from zk_pipeline.sources.http import HttpClient

DEFAULT_BASE_URL = "https://prod-api.ekubo.org"
#: Starknet mainnet's chain id as the Ekubo API spells it (the felt 'SN_MAIN').
STARKNET_MAINNET_CHAIN_ID = 0x534E5F4D41494E
#: Ekubo's 0.05 % fee tier: round(0.0005 * 2**64) << 64, as used on-chain.
EKUBO_FEE_0_05_PCT = 0x20C49BA5E353F80000000000000000
EKUBO_TICK_SPACING_0_05_PCT = 1000
HISTORY_MAX_INTERVALS = 120


@dataclass(frozen=True)
class Token:
    """A Starknet ERC-20 as the sources need it; ``usd_price`` only for USD-pegged tokens."""

    symbol: str
    address: str
    decimals: int
    usd_price: float | None = None

    @property
    def address_int(self) -> int:
        return int(self.address, 16)


#: Starknet mainnet tokens, so that configuration can name a token by symbol.
KNOWN_TOKENS: dict[str, Token] = {
    t.symbol: t
    for t in (
        Token("WBTC", "0x03fe2b97c1fd336e750087d68b9b867997fd64a2661ff3ca5a7c771641e8e7ac", 8),
        Token("ETH", "0x049d36570d4e46f48e99674bd3fcc84644ddd6b96f7c741b1562b82f9e004dc7", 18),
        Token("STRK", "0x04718f5a0fc34cc1af16a1cdee98ffb20c31f5cd61d6ab07201858f4287c938d", 18),
        Token("USDC", "0x053c91253bc9682c04929ca02ed00b3e423f6710d2ee7e0d5ebb06f3ecf368a8", 6, usd_price=1.0),
        Token("USDT", "0x068f5c6a61780768455de69077e07e89787839bf8166decfbf92b645209c0fb8", 6, usd_price=1.0),
    )
}


def resolve_token(token: Token | str) -> Token:
    if isinstance(token, Token):
        return token
    try:
        return KNOWN_TOKENS[token]
    except KeyError:
        raise ValueError(f"unknown token {token!r}; pass a Token or one of {sorted(KNOWN_TOKENS)}") from None


def require_usd_quote(quote: Token) -> float:
    """USD values hang on the quote token's peg, so a quote without one is a configuration error."""
    if quote.usd_price is None:
        raise ValueError(f"quote token {quote.symbol} has no USD price; use a USD-pegged quote such as USDC")
    return quote.usd_price


def fee_label(fraction: float) -> str:
    """``0.0005`` → ``'0.05%'`` (rounded so on-chain fixed-point noise disappears)."""
    return f"{fraction * 100:.4f}".rstrip("0").rstrip(".") + "%"


def pool_name(protocol: str, base: Token, quote: Token, fee_fraction: float) -> str:
    return f"{protocol}:{base.symbol}/{quote.symbol}:{fee_label(fee_fraction)}"


def as_int(value: Any, what: str) -> int:
    """Integers as the API sends them: JSON numbers, decimal or ``0x`` strings."""
    if isinstance(value, bool):
        raise SourceError(f"{what}: expected an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value, 16) if value.lower().startswith("0x") else int(value)
        except ValueError:
            pass
    raise SourceError(f"{what}: expected an integer, got {value!r}")


def _as_float(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise SourceError(f"{what}: expected a number, got {value!r}")
    try:
        return float(value)
    except ValueError:
        raise SourceError(f"{what}: expected a number, got {value!r}") from None


def _as_timestamp(value: Any, what: str) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise SourceError(f"{what}: expected an ISO-8601 time, got {value!r}") from None
    if ts is pd.NaT or not isinstance(ts, pd.Timestamp):
        raise SourceError(f"{what}: expected an ISO-8601 time, got {value!r}")
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _field(obj: Any, key: str, where: str) -> Any:
    if not isinstance(obj, Mapping) or key not in obj:
        raise SourceError(f"{where}: response lacks {key!r}")
    return obj[key]


def _rows(obj: Any, key: str, where: str) -> list[Mapping[str, Any]]:
    rows = _field(obj, key, where)
    if not isinstance(rows, list) or not all(isinstance(r, Mapping) for r in rows):
        raise SourceError(f"{where}: {key!r} is not a list of objects")
    return rows


@dataclass(frozen=True)
class _Pool:
    pool_id: str
    core_address: str


class EkuboApiSource(MetricsSource):
    name = "ekubo_api"

    def __init__(
        self,
        base_token: Token | str = "WBTC",
        quote_token: Token | str = "USDC",
        *,
        fee: int = EKUBO_FEE_0_05_PCT,
        tick_spacing: int = EKUBO_TICK_SPACING_0_05_PCT,
        extension: str = "0x0",
        base_url: str = DEFAULT_BASE_URL,
        chain_id: int = STARKNET_MAINNET_CHAIN_ID,
        timeout_s: float = 10.0,
        max_attempts: int = 4,
        http: HttpClient | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.base = resolve_token(base_token)
        self.quote = resolve_token(quote_token)
        self.quote_usd = require_usd_quote(self.quote)
        self.fee = fee
        self.fee_fraction = fee / 2**128
        self.tick_spacing = tick_spacing
        self.extension = int(extension, 16)
        self.base_url = base_url.rstrip("/")
        self.chain_id = chain_id
        self.http = http or HttpClient(timeout_s=timeout_s, max_attempts=max_attempts)
        self._clock = clock or (lambda: datetime.now(timezone.utc))
        self.pool = pool_name("ekubo", self.base, self.quote, self.fee_fraction)

    # -- requests -----------------------------------------------------------

    def _pair_path(self, what: str) -> str:
        return f"/pair/{self.chain_id}/{self.base.address}/{self.quote.address}/{what}"

    def _get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self.http.get_json(self.base_url + path, params)

    def _find_pool(self) -> _Pool:
        where = "ekubo pools"
        for row in _rows(self._get(self._pair_path("pools")), "topPools", where):
            spacing = row.get("tick_spacing")
            if (
                as_int(_field(row, "fee", where), f"{where} fee") == self.fee
                and spacing is not None
                and as_int(spacing, f"{where} tick_spacing") == self.tick_spacing
                and as_int(row.get("extension", "0x0"), f"{where} extension") == self.extension
            ):
                return _Pool(str(_field(row, "pool_id", where)), str(_field(row, "core_address", where)))
        raise SourceError(
            f"{where}: no {self.pool} pool (fee {hex(self.fee)}, tick spacing {self.tick_spacing}) "
            "is listed for the pair; the API lists pools above its minimum TVL only"
        )

    def _prices(self, hours: list[datetime]) -> dict[pd.Timestamp, float]:
        """Hour → price (quote per base), requested in chunks the API accepts."""
        scale = 10.0 ** (self.base.decimals - self.quote.decimals)
        path = f"/price/{self.chain_id}/{self.base.address}/{self.quote.address}/history"
        prices: dict[pd.Timestamp, float] = {}
        for i in range(0, len(hours), HISTORY_MAX_INTERVALS):
            chunk = hours[i : i + HISTORY_MAX_INTERVALS]
            params = {
                "interval": 3600,
                "start": int(chunk[0].timestamp()),
                "end": int((chunk[-1] + HOUR).timestamp()),
            }
            for point in _rows(self._get(path, params), "data", "ekubo price history"):
                hour = _as_timestamp(_field(point, "start", "ekubo price history"), "price point start").floor("h")
                vwap = _as_float(_field(point, "vwap", "ekubo price history"), "price point vwap")
                prices[hour] = vwap * scale
        return prices

    def _token_side(self, token: Any, where: str) -> str | None:
        address = as_int(token, f"{where} token")
        if address == self.base.address_int:
            return "base"
        if address == self.quote.address_int:
            return "quote"
        return None

    def _balances_by_day(self, pool: _Pool) -> Callable[[date], dict[str, float]]:
        """Day → token amounts held at the end of that day (see module docstring)."""
        where = "ekubo tvl"
        body = self._get(self._pair_path("tvl"), {"poolId": pool.pool_id, "coreAddress": pool.core_address})
        now = {"base": 0, "quote": 0}
        for row in _rows(body, "tvlByToken", where):
            side = self._token_side(_field(row, "token", where), where)
            if side:
                now[side] += as_int(_field(row, "balance", where), f"{where} balance")
        deltas: list[tuple[date, str, int]] = []
        for row in _rows(body, "tvlDeltaByTokenByDate", where):
            side = self._token_side(_field(row, "token", where), where)
            if side:
                day = _as_timestamp(_field(row, "date", where), f"{where} date").date()
                deltas.append((day, side, as_int(_field(row, "delta", where), f"{where} delta")))

        def at_end_of(day: date) -> dict[str, float]:
            raw = dict(now)
            for d, side, delta in deltas:
                if d > day:
                    raw[side] -= delta
            return {"base": raw["base"] / 10**self.base.decimals, "quote": raw["quote"] / 10**self.quote.decimals}

        return at_end_of

    def _volume_by_day(self, pool: _Pool) -> dict[date, dict[str, float]]:
        where = "ekubo volume"
        body = self._get(self._pair_path("volume"), {"poolId": pool.pool_id, "coreAddress": pool.core_address})
        raw: dict[date, dict[str, int]] = {}
        for row in _rows(body, "volumeByTokenByDate", where):
            side = self._token_side(_field(row, "token", where), where)
            if side:
                day = _as_timestamp(_field(row, "date", where), f"{where} date").date()
                amounts = raw.setdefault(day, {"base": 0, "quote": 0})
                amounts[side] += as_int(_field(row, "volume", where), f"{where} volume")
        return {
            day: {"base": a["base"] / 10**self.base.decimals, "quote": a["quote"] / 10**self.quote.decimals}
            for day, a in raw.items()
        }

    # -- snapshot -----------------------------------------------------------

    def fetch(self, window: Window) -> pd.DataFrame:
        now_hour = floor_hour(self._clock())
        hours = [h.astimezone(timezone.utc) for h in window.hour_list() if h <= now_hour]
        if not hours:
            return empty_snapshots()
        pool = self._find_pool()
        prices = self._prices(hours)
        balances_at_end_of = self._balances_by_day(pool)
        volumes = self._volume_by_day(pool)

        rows = []
        for hour in hours:
            price = prices.get(pd.Timestamp(hour))
            if price is None:
                continue
            day = hour.date()
            held = balances_at_end_of(day)
            tvl_usd = (held["base"] * price + held["quote"]) * self.quote_usd
            traded = volumes.get(day, {"base": 0.0, "quote": 0.0})
            hours_in_day = now_hour.hour + 1 if day == now_hour.date() else 24
            volume_usd = (traded["base"] * price + traded["quote"]) * self.quote_usd / hours_in_day
            rows.append({
                "hour": pd.Timestamp(hour),
                "protocol": "ekubo",
                "pool": self.pool,
                "price": price,
                "tvl_usd": tvl_usd,
                "volume_usd": volume_usd,
                "fees_usd": volume_usd * self.fee_fraction,
            })
        if not rows:
            return empty_snapshots()
        return pd.DataFrame(rows, columns=list(SNAPSHOT_COLUMNS))
