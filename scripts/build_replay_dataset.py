"""Build ``zk_pipeline/data/replay_pools.csv`` from the real price series in ../shared.

Run once by a maintainer (``python scripts/build_replay_dataset.py``); the
product only reads the CSV it writes. Every step is documented in README.md
("Replay dataset"); in short, for the last 90 days of the Binance BTC/USDT
hourly candles (2021-03-12 01:00 to 2021-06-10 00:00 UTC, 2160 hours):

* jediswap, pool ``jediswap:WBTC/USDC:0.3%``: price = candle close; volume =
  0.01 % of the candle's USDT volume; fees = volume x 0.3 %.
* ekubo, pool ``ekubo:WBTC/USDC:0.05%``: price = the candle's VWAP
  (USDT volume / BTC volume); volume = 0.05 % of the USDT volume; fees =
  volume x 0.05 %.
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

from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "prices"
OUT = ROOT / "zk_pipeline" / "data" / "replay_pools.csv"
HOURS = 90 * 24


def load_binance() -> pd.DataFrame:
    raw = pd.read_csv(SHARED / "binance_btcusdt_1h.csv")
    unix = raw["unix"].astype(float)
    seconds = np.where(unix > 1e11, unix / 1000.0, unix)
    raw["hour"] = pd.to_datetime(seconds, unit="s", utc=True).floor("h")
    raw = raw.sort_values("hour").drop_duplicates("hour", keep="first").set_index("hour")
    return raw


def main() -> None:
    b = load_binance()
    end = b.index.max()
    hours = pd.date_range(end=end, periods=HOURS, freq="h", tz="UTC")
    s = b.reindex(hours)
    missing = int(s["close"].isna().sum())
    s["close"] = s["close"].ffill()
    for col in ("Volume BTC", "Volume USDT"):
        s[col] = s[col].fillna(0.0)
    vwap = (s["Volume USDT"] / s["Volume BTC"]).where(s["Volume BTC"] > 0, s["close"])

    daily = pd.read_csv(SHARED / "btc_usd_daily.csv", parse_dates=["Date"])
    daily["Date"] = daily["Date"].dt.tz_localize("UTC")
    vol30 = daily.set_index("Date")["Volume"].rolling(30).mean()
    liq_factor = vol30.reindex(hours.floor("D")).to_numpy()
    liq_factor = liq_factor / liq_factor[0]

    frames = []
    for protocol, pool, price, vol_share, fee, tvl0 in (
        ("jediswap", "jediswap:WBTC/USDC:0.3%", s["close"].to_numpy(), 0.0001, 0.003, 2_500_000.0),
        ("ekubo", "ekubo:WBTC/USDC:0.05%", vwap.to_numpy(), 0.0005, 0.0005, 6_000_000.0),
    ):
        root = np.sqrt(price)
        tvl = tvl0 * liq_factor * root / root[0]
        volume = s["Volume USDT"].to_numpy() * vol_share
        frames.append(
            pd.DataFrame(
                {
                    "timestamp": hours.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "protocol": protocol,
                    "pool": pool,
                    "price": np.round(price, 8),
                    "tvl_usd": np.round(tvl, 6),
                    "volume_usd": np.round(volume, 6),
                    "fees_usd": np.round(volume * fee, 6),
                }
            )
        )
    out = pd.concat(frames, ignore_index=True)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(OUT, index=False, float_format="%.8f")
    print(f"wrote {len(out)} rows ({HOURS} hours x 2 pools) to {OUT}; {missing} missing hours repaired; "
          f"{hours[0]} .. {hours[-1]}")


if __name__ == "__main__":
    main()
