"""Replay source: hourly pool snapshots from a file, mapped onto the wall clock.

The shipped dataset (``zk_pipeline/data/replay_pools.csv``, built by
``scripts/build_replay_dataset.py``) is historical, yet the hourly schedule
asks for *now*. The mapping rule is a ping-pong replay, fixed for all time so
that every partition is reproducible:

    h      = hours since 1970-01-01T00:00Z of the requested hour
    N      = hours covered by the file (first to last row, inclusive)
    q      = h mod (2N - 2)
    row    = q            if q < N      (played forwards)
             2N - 2 - q   otherwise     (played backwards)

Playing backwards at the end instead of jumping to the start keeps the price
series continuous, so the cycle boundary never shows up as a fake return. Any
file in the same format works (CSV or Parquet, columns ``timestamp`` ISO-8601
UTC or unix seconds, ``protocol``, ``pool``, ``price``, ``tvl_usd``,
``volume_usd``, ``fees_usd``); its rows are served as they are, quirks
included, and the quality rules decide what is usable.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path

import pandas as pd

from zk_pipeline.sources.base import SNAPSHOT_COLUMNS, MetricsSource, SourceError, Window

SHIPPED_DATASET = Path(__file__).resolve().parents[1] / "data" / "replay_pools.csv"
FILE_COLUMNS = ("timestamp", "protocol", "pool", "price", "tvl_usd", "volume_usd", "fees_usd")
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def parse_timestamps(col: pd.Series) -> pd.Series:
    """ISO-8601 strings or unix seconds → tz-aware UTC; unparseable → NaT."""
    numeric = pd.to_numeric(col, errors="coerce")
    if numeric.notna().all():
        return pd.to_datetime(numeric, unit="s", utc=True)
    return pd.to_datetime(col.astype(str), utc=True, errors="coerce", format="ISO8601")


@lru_cache(maxsize=4)
def _load(path: str, mtime: float) -> pd.DataFrame:
    p = Path(path)
    try:
        df = pd.read_parquet(p) if p.suffix in (".parquet", ".pq") else pd.read_csv(p, dtype={"protocol": str, "pool": str})
    except (OSError, ValueError) as exc:
        raise SourceError(f"cannot read replay dataset {p}: {exc}") from exc
    missing = [c for c in FILE_COLUMNS if c not in df.columns]
    if missing:
        raise SourceError(f"replay dataset {p} lacks columns {missing}; expected {list(FILE_COLUMNS)}")
    df = df[list(FILE_COLUMNS)].copy()
    df["hour"] = parse_timestamps(df["timestamp"]).dt.floor("h")
    bad = df["hour"].isna()
    if bad.all():
        raise SourceError(f"replay dataset {p}: no parseable timestamps")
    # Rows with unparseable timestamps cannot be placed on the clock; they are
    # dropped here and counted, since the quality rules work per hour.
    df = df[~bad].drop(columns="timestamp")
    df.attrs["unplaceable_rows"] = int(bad.sum())
    return df


class ReplaySource(MetricsSource):
    name = "replay"

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else SHIPPED_DATASET
        if not self.path.exists():
            raise SourceError(f"replay dataset {self.path} does not exist")

    def frame(self) -> pd.DataFrame:
        return _load(str(self.path), self.path.stat().st_mtime)

    def dataset_hour(self, hour: datetime) -> pd.Timestamp:
        df = self.frame()
        first, last = df["hour"].min(), df["hour"].max()
        n = int((last - first) / pd.Timedelta(hours=1)) + 1
        if n < 2:
            raise SourceError("replay dataset must cover at least two hours")
        h = int((hour - EPOCH) / timedelta(hours=1))
        q = h % (2 * n - 2)
        row = q if q < n else 2 * n - 2 - q
        return first + pd.Timedelta(hours=row)

    def fetch(self, window: Window) -> pd.DataFrame:
        df = self.frame()
        mapping = pd.DataFrame(
            {"hour": [pd.Timestamp(h) for h in window.hour_list()],
             "dataset_hour": [self.dataset_hour(h) for h in window.hour_list()]}
        )
        out = mapping.merge(df.rename(columns={"hour": "dataset_hour"}), on="dataset_hour", how="inner")
        return out[list(SNAPSHOT_COLUMNS)].reset_index(drop=True)
