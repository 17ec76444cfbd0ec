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
included, and the quality rules decide what is usable. Each row carries its
file row (``source_row``) and, when the file itself shows it is unusable (an
unreadable timestamp, a time not on the hour), a reason (``reject_rule``,
``reject_detail``) that the quality rules report. A file that cannot be used
at all raises ``SourceFormatError``, which is not retried.
"""

from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

import pandas as pd

from zk_pipeline.hours import HOUR
from zk_pipeline.sources.base import ROW_COLUMNS, SNAPSHOT_COLUMNS, MetricsSource, SourceFormatError, Window

SHIPPED_DATASET = Path(__file__).resolve().parents[1] / "data" / "replay_pools.csv"
FILE_COLUMNS = ("timestamp", "protocol", "pool", "price", "tvl_usd", "volume_usd", "fees_usd")
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


#: Largest plausible unix-seconds value (year ~5138); bigger numbers are most likely milliseconds.
MAX_UNIX_SECONDS = 10**11


def _parse_cells(col: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Timestamps cell by cell → (tz-aware UTC or NaT, reason text where unreadable)."""
    reasons = pd.Series(None, index=col.index, dtype=object)
    if pd.api.types.is_datetime64_any_dtype(col):  # Parquet datetime columns: naive means UTC
        t = col.dt.tz_localize("UTC") if col.dt.tz is None else col.dt.tz_convert("UTC")
        reasons[t.isna()] = "empty timestamp"
        return t, reasons
    if pd.api.types.is_bool_dtype(col):
        col = col.astype(object)
    text = col.map(lambda v: v.strip() if isinstance(v, str) else v)
    numeric = pd.to_numeric(text.map(lambda v: None if isinstance(v, bool) else v), errors="coerce")
    in_range = numeric.notna() & (numeric >= 0) & (numeric < MAX_UNIX_SECONDS)
    out = pd.Series(pd.NaT, index=col.index, dtype="datetime64[ns, UTC]")
    if in_range.any():
        out[in_range] = pd.to_datetime(numeric[in_range], unit="s", utc=True)
    iso = numeric.isna() & text.map(lambda v: isinstance(v, str) and v != "")
    if iso.any():
        out[iso] = pd.to_datetime(text[iso], utc=True, errors="coerce", format="ISO8601")
    empty = text.isna() | text.map(lambda v: v == "")
    reasons[empty] = "empty timestamp"
    reasons[numeric.notna() & ~in_range] = "unix seconds out of range (milliseconds?)"
    reasons[iso & out.isna()] = "not an ISO-8601 or unix-seconds timestamp"
    reasons[out.isna() & reasons.isna()] = "unreadable timestamp"
    return out, reasons


def parse_timestamps(col: pd.Series) -> pd.Series:
    """ISO-8601 strings, unix seconds or datetimes → tz-aware UTC; unreadable cells → NaT."""
    return _parse_cells(col)[0]


@lru_cache(maxsize=4)
def _load(path: str, mtime: float) -> pd.DataFrame:
    p = Path(path)
    parquet = p.suffix in (".parquet", ".pq")
    try:
        df = pd.read_parquet(p) if parquet else pd.read_csv(
            p, dtype={"timestamp": str, "protocol": str, "pool": str}, keep_default_na=False, na_values=[""])
    except (OSError, ValueError, UnicodeError) as exc:
        raise SourceFormatError(f"cannot read replay dataset {p}: {str(exc)[:200]}") from exc
    missing = [c for c in FILE_COLUMNS if c not in df.columns]
    if missing:
        raise SourceFormatError(f"replay dataset {p} lacks columns {missing}; expected {list(FILE_COLUMNS)}")
    if df.empty:
        raise SourceFormatError(f"replay dataset {p} has no rows")
    df = df[list(FILE_COLUMNS)].reset_index(drop=True)
    for c in ("protocol", "pool"):
        if isinstance(df[c].dtype, pd.CategoricalDtype):
            df[c] = df[c].astype(object)
    # Rows are named by their line in a CSV (header = line 1) or their index in a Parquet file.
    df["source_row"] = [f"{'parquet row' if parquet else 'line'} {i + (0 if parquet else 2)}" for i in range(len(df))]
    ts, reasons = _parse_cells(df["timestamp"])
    df["hour"] = ts.dt.floor("h")
    df["reject_rule"] = None
    df["reject_detail"] = None
    bad = ts.isna()
    if bad.all():
        first = reasons.first_valid_index()
        raise SourceFormatError(f"replay dataset {p}: no readable timestamps (e.g. {df.at[first, 'source_row']}: "
                                f"{df.at[first, 'timestamp']!r}: {reasons[first]})")
    df.loc[bad, "reject_rule"] = "unreadable_timestamp"
    df.loc[bad, "reject_detail"] = [f"timestamp={'' if pd.isna(v) else v!r}: {r} ({row})" for v, r, row in
                                    zip(df.loc[bad, "timestamp"], reasons[bad], df.loc[bad, "source_row"])]
    off = ~bad & (ts != df["hour"])
    df.loc[off, "reject_rule"] = "not_on_the_hour"
    df.loc[off, "reject_detail"] = [f"timestamp={v!r} is not on the hour ({row})" for v, row in
                                    zip(df.loc[off, "timestamp"], df.loc[off, "source_row"])]
    # The file's span (and so the replay mapping) comes from its readable rows. An unreadable
    # timestamp in a pool's first or last row (in file order) may be that pool's first or last
    # hour: the span is then unknown, and the file is refused rather than silently re-mapped.
    if bad.any():
        pool_key = df["protocol"].astype(str) + "\x00" + df["pool"].astype(str)
        ends = pd.concat([df.groupby(pool_key, sort=False).head(1), df.groupby(pool_key, sort=False).tail(1)])
        edge = ends[ends["hour"].isna()]
        if len(edge):
            rows = ", ".join(f"{r} ({v!r})" for r, v in zip(edge["source_row"][:5], edge["timestamp"][:5]))
            raise SourceFormatError(
                f"replay dataset {p}: unreadable timestamp in the first or last row of a pool ({rows}); "
                "the file's time span, and so the replay mapping, is unknown")
    return df.drop(columns="timestamp")


class ReplaySource(MetricsSource):
    name = "replay"

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else SHIPPED_DATASET
        if not self.path.exists():
            raise SourceFormatError(f"replay dataset {self.path} does not exist")

    def frame(self) -> pd.DataFrame:
        return _load(str(self.path), self.path.stat().st_mtime)

    def dataset_hour(self, hour: datetime) -> pd.Timestamp:
        df = self.frame()
        first, last = df["hour"].min(), df["hour"].max()
        n = int((last - first) / pd.Timedelta(hours=1)) + 1
        if n < 2:
            raise SourceFormatError(f"replay dataset {self.path} must cover at least two hours")
        h = int((hour - EPOCH) / HOUR)
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
        # Rows without a readable timestamp could belong to any hour: every window reports them.
        unplaced = df[df["hour"].isna()]
        cols = list(SNAPSHOT_COLUMNS) + list(ROW_COLUMNS)
        return pd.concat([out[cols], unplaced[cols]], ignore_index=True) if len(unplaced) else out[cols].reset_index(drop=True)
