"""Build ``zk_pipeline/data/replay_pools.csv`` from the real price series in ``tests/data/prices``.

Run by a maintainer (``python scripts/build_replay_dataset.py``); the product
only reads the CSV it writes, and ``tests/test_replay_dataset.py`` checks that
the shipped file is exactly what this script writes. Every step is documented
in README.md ("The shipped dataset"); in short, for the last 90 days of the
Binance BTC/USDT hourly candles (2021-03-12 01:00 to 2021-06-10 00:00 UTC,
2160 hours):

* DEX volume of the hour = 0.06 % of the candle's USDT volume ``V``, split
  between the two fee tiers by the *routing rule*: the 0.3 % pool
  (jediswap) takes ``w = 2 % + 7 % x V / (V + M)`` of it, where ``M`` is the
  median hourly USDT volume of the 720 hours before; the 0.05 % pool (ekubo)
  takes the rest. A router fills small trades in the cheap, deep pool; the
  busier the hour compared with its usual, the more flow spills over into the
  expensive one. ``w`` is bounded (2 %..9 %), so neither pool's fee APY can
  run away from the other's, and it follows the real volume hour by hour, so
  the APY ordering (and the allocation) changes with the market.
* jediswap, pool ``jediswap:WBTC/USDC:0.3%``: price = candle close; fees =
  volume x 0.3 %.
* ekubo, pool ``ekubo:WBTC/USDC:0.05%``: price = the candle's VWAP
  (USDT volume / BTC volume); fees = volume x 0.05 %.
* TVL of both pools follows the constant-product identity TVL = 2 L sqrt(P) of
  a pool holding liquidity L. L moves with the trailing 30-day mean of the real
  daily BTC-USD volume (Yahoo file), normalised to 1 on the first day, and is
  scaled so the first hour's TVL is $2.5M (jediswap) and $6M (ekubo).
* The Binance slice's own quirks are repaired before derivation: rows sorted by
  time, ``unix`` read as ms or s, duplicate hours keep the first row, missing
  hours are filled with the previous close and zero volume (the count of
  repaired hours is printed).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
PRICES = ROOT / "tests" / "data" / "prices"
OUT = ROOT / "zk_pipeline" / "data" / "replay_pools.csv"
HOURS = 90 * 24
#: Hours of history behind the routing rule's median volume (the model's volatility window).
TRAILING_HOURS = 720
DEX_VOLUME_SHARE = 0.0006
JEDISWAP_SHARE_MIN, JEDISWAP_SHARE_SPAN = 0.02, 0.07
POOLS = (  # protocol, pool id, fee, first hour's TVL
    ("jediswap", "jediswap:WBTC/USDC:0.3%", 0.003, 2_500_000.0),
    ("ekubo", "ekubo:WBTC/USDC:0.05%", 0.0005, 6_000_000.0),
)


def load_binance(prices: Path = PRICES) -> pd.DataFrame:
    """Binance candles, oldest first, one row per hour (``unix`` in ms or s; duplicates keep the first)."""
    raw = pd.read_csv(prices / "binance_btcusdt_1h.csv.gz")
    unix = raw["unix"].astype(float)
    seconds = np.where(unix > 1e11, unix / 1000.0, unix)
    raw["hour"] = pd.to_datetime(seconds, unit="s", utc=True).floor("h")
    return raw.sort_values("hour").drop_duplicates("hour", keep="first").set_index("hour")


def jediswap_volume_share(volume: np.ndarray, trailing_median: np.ndarray) -> np.ndarray:
    """The routing rule: the 0.3 % tier's share of an hour's DEX volume, 2 %..9 %."""
    busy = np.divide(volume, volume + trailing_median, out=np.zeros_like(volume), where=volume + trailing_median > 0)
    return JEDISWAP_SHARE_MIN + JEDISWAP_SHARE_SPAN * busy


def build(prices: Path = PRICES) -> tuple[pd.DataFrame, int]:
    """The replay rows (jediswap then ekubo, oldest hour first) and the number of repaired hours."""
    b = load_binance(prices)
    hours_all = pd.date_range(end=b.index.max(), periods=HOURS + TRAILING_HOURS, freq="h", tz="UTC")
    s_all = b.reindex(hours_all)
    s_all["close"] = s_all["close"].ffill()
    for col in ("Volume BTC", "Volume USDT"):
        s_all[col] = s_all[col].fillna(0.0)
    median = s_all["Volume USDT"].rolling(TRAILING_HOURS).median().shift(1).to_numpy()[TRAILING_HOURS:]
    s = s_all.iloc[TRAILING_HOURS:]
    hours = s.index
    missing = int(b.reindex(hours)["close"].isna().sum())
    volume = s["Volume USDT"].to_numpy()
    vwap = (s["Volume USDT"] / s["Volume BTC"]).where(s["Volume BTC"] > 0, s["close"]).to_numpy()
    jedi_share = jediswap_volume_share(volume, median)

    daily = pd.read_csv(prices / "btc_usd_daily.csv.gz", parse_dates=["Date"])
    daily["Date"] = daily["Date"].dt.tz_localize("UTC")
    vol30 = daily.set_index("Date")["Volume"].rolling(30).mean()
    liq_factor = vol30.reindex(hours.floor("D")).to_numpy()
    liq_factor = liq_factor / liq_factor[0]

    frames = []
    for (protocol, pool, fee, tvl0), price, share in zip(
            POOLS, (s["close"].to_numpy(), vwap), (jedi_share, 1.0 - jedi_share)):
        root = np.sqrt(price)
        tvl = tvl0 * liq_factor * root / root[0]
        pool_volume = volume * DEX_VOLUME_SHARE * share
        frames.append(
            pd.DataFrame(
                {
                    "timestamp": hours.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "protocol": protocol,
                    "pool": pool,
                    "price": np.round(price, 8),
                    "tvl_usd": np.round(tvl, 6),
                    "volume_usd": np.round(pool_volume, 6),
                    "fees_usd": np.round(pool_volume * fee, 6),
                }
            )
        )
    return pd.concat(frames, ignore_index=True), missing


def to_csv_text(frame: pd.DataFrame) -> str:
    return frame.to_csv(index=False, float_format="%.8f", lineterminator="\n")


def main(argv: list[str]) -> int:
    out, missing = build()
    if argv[1:] == ["--check"]:
        same = OUT.read_text() == to_csv_text(out)
        print(f"{OUT} {'matches' if same else 'DIFFERS FROM'} what the script builds")
        return 0 if same else 1
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(to_csv_text(out))
    print(f"wrote {len(out)} rows ({HOURS} hours x 2 pools) to {OUT}; {missing} missing hours repaired; "
          f"{out['timestamp'].iloc[0]} .. {out['timestamp'].iloc[HOURS - 1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
