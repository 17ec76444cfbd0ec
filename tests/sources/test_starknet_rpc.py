"""StarknetRpcSource against real JSON-RPC 2.0 doubles of a Starknet node on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from tests.sources.doubles import StarknetJsonRpcDouble, closed_port_url
from zk_pipeline.sources.base import SNAPSHOT_COLUMNS, SourceError, Window
from zk_pipeline.sources.ekubo_api import KNOWN_TOKENS, Token
from zk_pipeline.sources.starknet_rpc import (
    EKUBO_CORE_MAINNET,
    JEDISWAP_V2_FACTORY_MAINNET,
    EkuboPoolSpec,
    JediSwapPoolSpec,
    StarknetRpcSource,
)

WBTC, USDC = KNOWN_TOKENS["WBTC"], KNOWN_TOKENS["USDC"]  # WBTC's address is smaller: WBTC is token0
EKUBO_FEE = 0x20C49BA5E353F80000000000000000
EKUBO_KEY = [WBTC.address_int, USDC.address_int, EKUBO_FEE, 1000, 0]
JEDI_POOL = 0x0ABC123

# Ekubo: sqrt_ratio = 25.5 * 2**128 (low limb 2**127, high limb 25), L = 10**12.
EKUBO_SQRT, EKUBO_L = 25 * 2**128 + 2**127, 10**12
# JediSwap: sqrt_price_X96 = 24 * 2**96, L = 2 * 10**11.
JEDI_SQRT, JEDI_L = 24 * 2**96, 2 * 10**11

NOW = datetime(2025, 3, 10, 14, 20, tzinfo=timezone.utc)
CURRENT_HOUR = datetime(2025, 3, 10, 13, tzinfo=timezone.utc)  # the last complete hour at NOW


def healthy_node() -> StarknetJsonRpcDouble:
    node = StarknetJsonRpcDouble()
    node.add_ekubo_pool(EKUBO_CORE_MAINNET, EKUBO_KEY, EKUBO_SQRT, EKUBO_L)
    node.add_jediswap_factory(JEDISWAP_V2_FACTORY_MAINNET, {(WBTC.address_int, USDC.address_int, 3000): JEDI_POOL})
    node.add_jediswap_pool(JEDI_POOL, JEDI_SQRT, JEDI_L)
    return node


@pytest.fixture()
def node() -> Iterator[StarknetJsonRpcDouble]:
    with healthy_node() as double:
        yield double


@pytest.fixture()
def backup() -> Iterator[StarknetJsonRpcDouble]:
    with healthy_node() as double:
        yield double


def make_source(primary: str, backup: str | None = None, **kwargs) -> StarknetRpcSource:
    return StarknetRpcSource(primary, backup, clock=lambda: NOW, timeout_s=2.0, **kwargs)


def test_reads_current_price_and_tvl_of_ekubo_and_jediswap(node: StarknetJsonRpcDouble) -> None:
    df = make_source(node.url).fetch(Window(CURRENT_HOUR, 24))

    assert list(df.columns) == list(SNAPSHOT_COLUMNS)
    assert list(df["hour"]) == [pd.Timestamp(CURRENT_HOUR)] * 2
    rows = df.set_index("pool")
    assert list(rows.index) == ["ekubo:WBTC/USDC:0.05%", "jediswap:WBTC/USDC:0.3%"]
    assert list(rows["protocol"]) == ["ekubo", "jediswap"]

    # Ekubo: price = (sqrt_ratio / 2**128)**2 * 10**(8 - 6) = 25.5**2 * 100
    assert rows.loc["ekubo:WBTC/USDC:0.05%", "price"] == 650.25 * 100 == 65_025.0
    # TVL ≈ 2 * L * s raw USDC units = 2 * 10**12 * 25.5 / 10**6 USDC, at $1 per USDC
    assert rows.loc["ekubo:WBTC/USDC:0.05%", "tvl_usd"] == 2 * 10**12 * 25.5 / 10**6 == 51_000_000.0

    # JediSwap: price = (sqrt_price_X96 / 2**96)**2 * 10**(8 - 6) = 24**2 * 100
    assert rows.loc["jediswap:WBTC/USDC:0.3%", "price"] == 576 * 100 == 57_600.0
    assert rows.loc["jediswap:WBTC/USDC:0.3%", "tvl_usd"] == 2 * 2 * 10**11 * 24 / 10**6 == 9_600_000.0

    # A node has no volume: documented as zero.
    assert (df["volume_usd"] == 0.0).all() and (df["fees_usd"] == 0.0).all()
    assert df.attrs == {"block_number": node.block_number, "node": "primary"}


def test_speaks_json_rpc_with_reads_pinned_to_one_block(node: StarknetJsonRpcDouble) -> None:
    make_source(node.url).fetch(Window(CURRENT_HOUR, 1))
    methods = node.methods()
    assert methods[:2] == ["starknet_specVersion", "starknet_blockNumber"]
    assert methods.count("starknet_call") == 5  # factory get_pool + 2 reads for each of 2 pools
    calls = [r.body for r in node.requests if r.body.get("method") == "starknet_call"]
    assert all(c["params"]["block_id"] == {"block_number": node.block_number} for c in calls)


def test_jediswap_pool_address_is_resolved_once(node: StarknetJsonRpcDouble) -> None:
    source = make_source(node.url)
    source.fetch(Window(CURRENT_HOUR, 1))
    source.fetch(Window(CURRENT_HOUR, 1))
    assert node.methods().count("starknet_call") == 5 + 4


def test_price_is_inverted_when_the_base_is_token1(node: StarknetJsonRpcDouble) -> None:
    usd = Token("USDX", "0x5", 6, usd_price=1.0)  # token0: smaller address
    coin = Token("COIN", "0x9", 18)  # token1
    key = [0x5, 0x9, EKUBO_FEE, 1000, 0]
    sqrt_ratio = 2**128 // 1000  # raw price s**2 = 1e-6 COIN-wei per USDX-unit (within rounding)
    node.add_ekubo_pool(EKUBO_CORE_MAINNET, key, sqrt_ratio, 10**15)

    df = make_source(node.url, ekubo_pools=[EkuboPoolSpec(coin, usd)], jediswap_pools=[]).fetch(
        Window(CURRENT_HOUR, 1)
    )

    s = sqrt_ratio / 2**128
    # token1-per-token0 in human units = s**2 * 10**(6 - 18); quote (USDX) per base (COIN) is its inverse.
    assert df.loc[0, "pool"] == "ekubo:COIN/USDX:0.05%"
    assert df.loc[0, "price"] == pytest.approx(1 / (s**2 * 10 ** (6 - 18)), rel=1e-12)  # ≈ 1e18 / 1e12 = 1e6
    # TVL in token0 (the quote) = 2 * L / s raw units.
    assert df.loc[0, "tvl_usd"] == pytest.approx(2 * 10**15 / s / 10**6, rel=1e-12)


def test_past_windows_get_no_rows_and_no_calls(node: StarknetJsonRpcDouble) -> None:
    df = make_source(node.url).fetch(Window(CURRENT_HOUR - timedelta(hours=1), 24))
    assert df.empty and list(df.columns) == list(SNAPSHOT_COLUMNS)
    assert node.requests == []


def test_backup_is_used_when_primary_answers_json_rpc_errors(
    node: StarknetJsonRpcDouble, backup: StarknetJsonRpcDouble
) -> None:
    node.fail_methods = {"starknet_call"}
    df = make_source(node.url, backup.url).fetch(Window(CURRENT_HOUR, 1))
    assert len(df) == 2 and df.attrs["node"] == "backup"
    assert "starknet_call" in node.methods()
    assert backup.methods().count("starknet_call") == 5


def test_backup_is_used_when_primary_answers_http_errors(
    node: StarknetJsonRpcDouble, backup: StarknetJsonRpcDouble
) -> None:
    node.fail_next("/", 503)
    df = make_source(node.url, backup.url).fetch(Window(CURRENT_HOUR, 1))
    assert df.attrs["node"] == "backup"


def test_backup_is_used_when_primary_is_down(backup: StarknetJsonRpcDouble) -> None:
    df = make_source(closed_port_url("/rpc"), backup.url).fetch(Window(CURRENT_HOUR, 1))
    assert len(df) == 2 and df.attrs["node"] == "backup"


def test_backup_is_used_when_primary_times_out(node: StarknetJsonRpcDouble, backup: StarknetJsonRpcDouble) -> None:
    node.delay_s = 1.0
    source = StarknetRpcSource(node.url, backup.url, clock=lambda: NOW, timeout_s=0.2)
    df = source.fetch(Window(CURRENT_HOUR, 1))
    assert df.attrs["node"] == "backup"


def test_both_down_raises_source_error_naming_nodes_without_secrets(backup: StarknetJsonRpcDouble) -> None:
    primary = closed_port_url("/starknet/v0_8/PRIMARYKEY0123456789abcdef") + "?apikey=topsecret-1"
    backup.fail_methods = {"starknet_call"}
    backup_url = f"{backup.url}/v2/BACKUPKEY0123456789abcdef?token=topsecret-2"

    with pytest.raises(SourceError) as caught:
        make_source(primary, backup_url).fetch(Window(CURRENT_HOUR, 1))

    message = str(caught.value)
    port = primary.split(":")[2].split("/")[0]
    assert f"primary node http://127.0.0.1:{port}/starknet/v0_8/***?***" in message
    assert f"backup node {backup.url}/v2/***?***" in message
    assert "ClientError" in message  # the backup's JSON-RPC error is named
    for secret in ("PRIMARYKEY", "BACKUPKEY", "topsecret", "apikey", "token="):
        assert secret not in message
    assert caught.value.__cause__ is None and caught.value.__context__ is None


@pytest.mark.filterwarnings("ignore::starknet_py.net.http_client.IncompatibleRPCVersionWarning")
@pytest.mark.parametrize("breakage", ["non-hex felts", "not json", "wrong result type"])
def test_malformed_answers_raise_source_error(node: StarknetJsonRpcDouble, breakage: str) -> None:
    if breakage == "non-hex felts":
        node.malformed = True
    elif breakage == "not json":
        node.handle = lambda request: (200, {}, "<html>bad gateway</html>")  # type: ignore[method-assign]
    else:
        wrong = {"jsonrpc": "2.0", "id": 0, "result": {"oops": 1}}
        node.handle = lambda request: (200, {}, wrong)  # type: ignore[method-assign]
    with pytest.raises(SourceError, match="primary node"):
        make_source(node.url).fetch(Window(CURRENT_HOUR, 1))


def test_unknown_jediswap_pool_raises_source_error(node: StarknetJsonRpcDouble) -> None:
    source = make_source(node.url, jediswap_pools=[JediSwapPoolSpec("WBTC", "USDC", fee_ppm=500)])
    with pytest.raises(SourceError, match="no WBTC/USDC pool with fee 500 ppm"):
        source.fetch(Window(CURRENT_HOUR, 1))


def test_configured_jediswap_address_skips_the_factory(node: StarknetJsonRpcDouble) -> None:
    spec = JediSwapPoolSpec("WBTC", "USDC", address=hex(JEDI_POOL))
    df = make_source(node.url, ekubo_pools=[], jediswap_pools=[spec]).fetch(Window(CURRENT_HOUR, 1))
    assert list(df["pool"]) == ["jediswap:WBTC/USDC:0.3%"]
    assert node.methods().count("starknet_call") == 2


def test_quote_token_must_be_usd_pegged() -> None:
    with pytest.raises(ValueError, match="USD"):
        StarknetRpcSource("http://127.0.0.1:1", ekubo_pools=[EkuboPoolSpec("WBTC", "ETH")])


def test_spec_version_warning_does_not_leak_the_node_url(node: StarknetJsonRpcDouble) -> None:
    node.spec_version = "0.7.1"
    with pytest.warns(Warning) as record:
        df = make_source(f"{node.url}/rpc/KEYKEY0123456789abcdef?apikey=topsecret-3").fetch(Window(CURRENT_HOUR, 1))
    assert len(df) == 2
    messages = [str(w.message) for w in record]
    assert any("0.7.1" in m and f"{node.url}/rpc/***?***" in m for m in messages)
    assert not any("KEYKEY" in m or "topsecret" in m for m in messages)


def test_fetch_works_when_called_from_inside_an_event_loop(node: StarknetJsonRpcDouble) -> None:
    async def caller() -> pd.DataFrame:
        return make_source(node.url).fetch(Window(CURRENT_HOUR, 1))

    assert len(asyncio.run(caller())) == 2
