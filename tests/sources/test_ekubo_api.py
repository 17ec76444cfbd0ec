"""EkuboApiSource and the shared HTTP helper, against a real HTTP double of Ekubo's API."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from tests.sources.doubles import EkuboApiDouble, EkuboPairData, closed_port_url, js_time
from zk_pipeline.sources.base import SNAPSHOT_COLUMNS, SourceError, SourceUnreachable, Window
from zk_pipeline.sources.ekubo_api import KNOWN_TOKENS, EkuboApiSource
from zk_pipeline.redaction import redact_url
from zk_pipeline.sources.http import HttpClient, clear_cache

WBTC, USDC = KNOWN_TOKENS["WBTC"], KNOWN_TOKENS["USDC"]
FEE = 0x20C49BA5E353F80000000000000000  # Ekubo's 0.05 % tier, 0.128 fixed point
POOL_ID = "0x1f2e3d"
CORE = "0x5dd3d2f4429af886cd1a3b08289dbcea99a294197e9eb43b0e0325b4b"

NOW = datetime(2025, 3, 10, 2, 30, tzinfo=timezone.utc)  # current hour: 02:00 on 10 March
H = {h: datetime(2025, 3, 9, 21, tzinfo=timezone.utc) + timedelta(hours=i) for i, h in
     enumerate(["21", "22", "23", "00", "01", "02"])}
DAY_9, DAY_10 = datetime(2025, 3, 9, tzinfo=timezone.utc), datetime(2025, 3, 10, tzinfo=timezone.utc)

# Raw VWAPs: smallest USDC unit per smallest WBTC unit. 23:00 had no swaps.
VWAP = {H["21"]: 600.0, H["22"]: 610.0, H["00"]: 620.5, H["01"]: 630.0, H["02"]: 640.0}


def pair_data() -> EkuboPairData:
    decoy = {"pool_id": "0x999", "core_address": CORE, "fee": hex(FEE * 6), "tick_spacing": 5982,
             "extension": "0x0"}
    target = {"pool_id": POOL_ID, "core_address": CORE, "fee": hex(FEE), "tick_spacing": 1000,
              "extension": "0x0", "tvl0_total": "1", "tvl1_total": "1"}
    wbtc, usdc = str(WBTC.address_int), str(USDC.address_int)  # the API sends decimal strings
    tvl = {
        "tvlByToken": [
            {"token": wbtc, "balance": "2500000000", "chain_id": "0x534e5f4d41494e"},  # 25 WBTC
            {"token": usdc, "balance": "1500000000000", "chain_id": "0x534e5f4d41494e"},  # 1.5M USDC
        ],
        "tvlDeltaByTokenByDate": [
            {"token": wbtc, "date": js_time(DAY_9), "delta": "200000000"},
            {"token": wbtc, "date": js_time(DAY_10), "delta": "100000000"},  # +1 WBTC today
            {"token": usdc, "date": js_time(DAY_10), "delta": "-50000000000"},  # -50k USDC today
        ],
    }
    volume = {
        "chain_id": "0x534e5f4d41494e",
        "volumeByToken_24h": [],
        "volumeByTokenByDate": [
            {"token": wbtc, "date": js_time(DAY_9), "volume": "480000000", "fees": "0"},  # 4.8 WBTC
            {"token": usdc, "date": js_time(DAY_9), "volume": "288000000000", "fees": "0"},  # 288k USDC
            {"token": wbtc, "date": js_time(DAY_10), "volume": "90000000", "fees": "0"},  # 0.9 WBTC
            {"token": usdc, "date": js_time(DAY_10), "volume": "30000000000", "fees": "0"},  # 30k USDC
        ],
    }
    pair_wide = {"tvlByToken": [{"token": wbtc, "balance": "1"}], "tvlDeltaByTokenByDate": []}
    return EkuboPairData(
        top_pools=[decoy, target],
        vwap_by_hour=dict(VWAP),
        tvl={POOL_ID: tvl, "": pair_wide},
        volume={POOL_ID: volume, "": {"volumeByTokenByDate": []}},
    )


class FakeTime:
    """Monotonic clock and sleep for HttpClient: sleeping advances the clock, nothing waits."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture(autouse=True)
def empty_http_cache() -> Iterator[None]:
    """The response cache is per process; no test sees another's answers."""
    clear_cache()
    yield
    clear_cache()


@pytest.fixture()
def api() -> Iterator[EkuboApiDouble]:
    with EkuboApiDouble(pair_data()) as double:
        yield double


@pytest.fixture()
def fake_time() -> FakeTime:
    return FakeTime()


def make_source(api: EkuboApiDouble, fake_time: FakeTime, **http_kwargs: float) -> EkuboApiSource:
    http = HttpClient(sleep=fake_time.sleep, clock=fake_time.clock, **{"backoff_s": 0.5, "jitter": 0.0, **http_kwargs})
    return EkuboApiSource("WBTC", "USDC", base_url=api.url, http=http, clock=lambda: NOW)


WINDOW = Window(H["02"], 6)


def test_snapshots_price_tvl_volume_and_fees_from_raw_amounts(api: EkuboApiDouble, fake_time: FakeTime) -> None:
    df = make_source(api, fake_time).fetch(WINDOW)

    assert list(df.columns) == list(SNAPSHOT_COLUMNS)
    assert set(df["protocol"]) == {"ekubo"} and set(df["pool"]) == {"ekubo:WBTC/USDC:0.05%"}
    # 23:00 had no swaps, hence no price and no row; the quality rules fill such gaps.
    assert list(df["hour"]) == [pd.Timestamp(H[h]) for h in ("21", "22", "00", "01", "02")]
    assert all(h.tzinfo is not None and h.utcoffset() == timedelta(0) for h in df["hour"])
    rows = df.set_index(df["hour"].dt.strftime("%H"))

    # price = raw vwap * 10**(8 - 6): WBTC has 8 decimals, USDC 6.
    assert rows.loc["21", "price"] == 600.0 * 100 == 60_000.0
    assert rows.loc["00", "price"] == 620.5 * 100 == 62_050.0

    # TVL at the end of 9 March = now minus 10 March's deltas: 24 WBTC and 1,550,000 USDC.
    assert rows.loc["21", "tvl_usd"] == pytest.approx(24 * 60_000 + 1_550_000, rel=1e-12)  # 2,990,000
    # On 10 March the current balances hold: 25 WBTC and 1,500,000 USDC.
    assert rows.loc["00", "tvl_usd"] == pytest.approx(25 * 62_050 + 1_500_000, rel=1e-12)  # 3,051,250

    # 9 March's volume (4.8 WBTC + 288,000 USDC) is spread over 24 hours, valued at the hour's price.
    vol_21 = (4.8 * 60_000 + 288_000) / 24
    assert vol_21 == pytest.approx(24_000.0)
    assert rows.loc["21", "volume_usd"] == pytest.approx(vol_21, rel=1e-12)
    # Today's volume (0.9 WBTC + 30,000 USDC) over the 3 hours elapsed (00, 01, 02).
    vol_01 = (0.9 * 63_000 + 30_000) / 3
    assert vol_01 == pytest.approx(28_900.0)
    assert rows.loc["01", "volume_usd"] == pytest.approx(vol_01, rel=1e-12)

    fee_fraction = FEE / 2**128  # ≈ 0.0005
    assert rows.loc["21", "fees_usd"] == pytest.approx(vol_21 * fee_fraction, rel=1e-12)
    assert rows.loc["01", "fees_usd"] == pytest.approx(vol_01 * fee_fraction, rel=1e-12)


def test_tvl_and_volume_are_narrowed_to_the_configured_pool(api: EkuboApiDouble, fake_time: FakeTime) -> None:
    make_source(api, fake_time).fetch(WINDOW)
    narrowed = [r for r in api.requests if r.path.endswith(("/tvl", "/volume"))]
    assert len(narrowed) == 2
    assert all(r.query == {"poolId": POOL_ID, "coreAddress": CORE} for r in narrowed)


def test_never_returns_rows_outside_the_window(api: EkuboApiDouble, fake_time: FakeTime) -> None:
    df = make_source(api, fake_time).fetch(Window(H["00"], 2))
    assert list(df["hour"]) == [pd.Timestamp(H["00"])]  # 23:00 has no price


def test_future_hours_are_not_requested(api: EkuboApiDouble, fake_time: FakeTime) -> None:
    future = Window(H["02"] + timedelta(hours=48), 2)
    df = make_source(api, fake_time).fetch(future)
    assert df.empty and list(df.columns) == list(SNAPSHOT_COLUMNS)
    assert api.count() == 0


def test_long_windows_are_fetched_in_chunks_the_api_accepts(api: EkuboApiDouble, fake_time: FakeTime) -> None:
    df = make_source(api, fake_time).fetch(Window(H["02"], 300))
    assert api.count("/history") == 3  # 120 + 120 + 60 hours; the double answers 400 beyond 120
    assert len(df) == 5


def test_retries_a_500_with_backoff_then_succeeds(api: EkuboApiDouble, fake_time: FakeTime) -> None:
    api.fail_next("/pools", 500, 503)
    df = make_source(api, fake_time).fetch(WINDOW)
    assert len(df) == 5
    assert api.count("/pools") == 3
    assert fake_time.sleeps == [0.5, 1.0]  # exponential: backoff_s, then twice that


def test_429_waits_at_least_retry_after(api: EkuboApiDouble, fake_time: FakeTime) -> None:
    api.fail_next("/pools", 429, headers={"Retry-After": "3"})
    make_source(api, fake_time).fetch(WINDOW)
    assert fake_time.sleeps == [3.0]


def test_gives_up_after_bounded_attempts(api: EkuboApiDouble, fake_time: FakeTime) -> None:
    api.fail_next("/pools", *[503] * 10)
    with pytest.raises(SourceError, match=r"after 3 attempt\(s\): HTTP 503"):
        make_source(api, fake_time, max_attempts=3).fetch(WINDOW)
    assert api.count("/pools") == 3
    assert fake_time.sleeps == [0.5, 1.0]


def test_client_errors_are_not_retried(api: EkuboApiDouble, fake_time: FakeTime) -> None:
    api.fail_next("/pools", 404)
    with pytest.raises(SourceError, match="HTTP 404"):
        make_source(api, fake_time).fetch(WINDOW)
    assert api.count("/pools") == 1


def test_cache_hit_within_60_seconds(api: EkuboApiDouble, fake_time: FakeTime) -> None:
    source = make_source(api, fake_time)
    first = source.fetch(WINDOW)
    requests_after_first = api.count()
    assert requests_after_first == 4  # pools, history, tvl, volume

    fake_time.now += 59
    second = source.fetch(WINDOW)
    assert api.count() == requests_after_first
    pd.testing.assert_frame_equal(first, second)

    fake_time.now += 2  # 61 s after the first fetch: everything is asked again
    source.fetch(WINDOW)
    assert api.count() == 2 * requests_after_first


def test_cache_is_shared_by_sources_built_separately(api: EkuboApiDouble, fake_time: FakeTime) -> None:
    """A new source (and client) per run, as the resource builds them, still reuses young answers."""
    first = make_source(api, fake_time).fetch(WINDOW)
    paths = [r.path for r in api.requests]
    assert len(paths) == len(set(paths)) == 4  # pools, history, tvl, volume: one request each

    fake_time.now += 59
    second = make_source(api, fake_time).fetch(WINDOW)  # another source object, another HttpClient
    assert api.count() == 4
    pd.testing.assert_frame_equal(first, second)

    # Each client applies its own TTL to an entry's age: a 30 s client asks again.
    make_source(api, fake_time, cache_ttl_s=30).fetch(WINDOW)
    assert api.count() == 8

    fake_time.now += 61  # past the 60 s TTL of the answers just fetched: asked again, once per URL
    make_source(api, fake_time).fetch(WINDOW)
    assert api.count() == 12
    assert sorted(r.path for r in api.requests[-4:]) == sorted(paths)

    make_source(api, fake_time).http.clear_cache()  # clearing through any client empties the shared cache
    make_source(api, fake_time).fetch(WINDOW)
    assert api.count() == 16


def test_timeout_raises_source_error(api: EkuboApiDouble, fake_time: FakeTime) -> None:
    api.delay_s = 0.5
    with pytest.raises(SourceError, match=r"timed out after 0.1s"):
        make_source(api, fake_time, timeout_s=0.1, max_attempts=2).fetch(WINDOW)
    assert fake_time.sleeps == [0.5]  # timeouts are retried like connection errors


def test_body_that_is_not_json_raises_source_error(api: EkuboApiDouble, fake_time: FakeTime) -> None:
    api.malformed = True
    with pytest.raises(SourceError, match="not valid JSON"):
        make_source(api, fake_time).fetch(WINDOW)


@pytest.mark.parametrize(
    "break_data",
    [
        lambda d: d.top_pools.clear() or d.top_pools.append({"fee": "zz", "tick_spacing": 1000}),
        lambda d: d.tvl[POOL_ID].pop("tvlByToken"),
        lambda d: d.volume[POOL_ID]["volumeByTokenByDate"][0].update(volume="4.8e8"),
        lambda d: d.vwap_by_hour.update({H["01"]: "cheap"}),
        lambda d: d.tvl[POOL_ID]["tvlDeltaByTokenByDate"][0].update(date="yesterday"),
    ],
    ids=["bad-fee", "missing-key", "non-integer-amount", "non-numeric-price", "bad-date"],
)
def test_malformed_payloads_raise_source_error(api: EkuboApiDouble, fake_time: FakeTime, break_data) -> None:
    break_data(api.data)
    with pytest.raises(SourceError):
        make_source(api, fake_time).fetch(WINDOW)


def test_unlisted_pool_raises_source_error(api: EkuboApiDouble, fake_time: FakeTime) -> None:
    api.data.top_pools[:] = api.data.top_pools[:1]
    with pytest.raises(SourceError, match="no ekubo:WBTC/USDC:0.05% pool"):
        make_source(api, fake_time).fetch(WINDOW)


def test_quote_token_must_be_usd_pegged() -> None:
    with pytest.raises(ValueError, match="USD"):
        EkuboApiSource("WBTC", "ETH")


def test_connection_error_message_hides_query_and_path_secrets(fake_time: FakeTime) -> None:
    url = closed_port_url("/v3/0123456789abcdefSECRETKEY")
    http = HttpClient(max_attempts=2, sleep=fake_time.sleep, clock=fake_time.clock)
    with pytest.raises(SourceError) as caught:
        http.get_json(url, {"apikey": "hunter2-hunter2"})
    message = str(caught.value)
    # Nothing listens there: a definite answer, not retried.
    assert isinstance(caught.value, SourceUnreachable) and fake_time.sleeps == []
    assert "connection refused, not retried" in message.replace(" (nothing listens there)", "")
    assert "SECRETKEY" not in message and "hunter2" not in message
    assert caught.value.__cause__ is None and caught.value.__context__ is None


def test_redact_url_keeps_public_identifiers_only() -> None:
    assert redact_url("https://user:pw@node.example:8443/v2/AbCdEf0123456789AbCdEf?key=x") == (
        "https://node.example:8443/v2/***?***"
    )
    address = "0x053c91253bc9682c04929ca02ed00b3e423f6710d2ee7e0d5ebb06f3ecf368a8"
    assert redact_url(f"https://prod-api.ekubo.org/pair/23448594291968334/{address}/tvl") == (
        f"https://prod-api.ekubo.org/pair/23448594291968334/{address}/tvl"
    )


def test_invalid_url_raises_source_error_without_echoing_it(fake_time: FakeTime) -> None:
    with pytest.raises(SourceError, match="not a valid URL") as caught:
        HttpClient(sleep=fake_time.sleep, clock=fake_time.clock).get_json("no-scheme/KEY0123456789abcdefgh")
    assert "KEY0123456789abcdefgh" not in str(caught.value)


def test_a_name_that_does_not_resolve_is_not_retried(fake_time: FakeTime) -> None:
    http = HttpClient(max_attempts=4, sleep=fake_time.sleep, clock=fake_time.clock)
    with pytest.raises(SourceUnreachable, match="DNS lookup failed") as caught:
        http.get_json("http://no-such-host.invalid/v1/tvl")
    assert fake_time.sleeps == [] and not caught.value.retryable
