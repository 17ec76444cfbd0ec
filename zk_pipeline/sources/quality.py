"""Data-quality rules: what a source may hand to the model, and what it may not.

Nothing bad is used silently. Each rule either rejects a row or repairs the
series, and every decision becomes an ``Issue`` that the ``protocol_metrics``
asset check reports row by row:

1. **Unparseable or non-finite values** (NaN, inf, text) in price, TVL,
   volume or fees → the row is *rejected*.
2. **Out-of-range values**: price ≤ 0, TVL ≤ 0, volume or fees < 0, or a value
   that does not fit the fixed-point columns (≥ 2**63 after scaling) → *rejected*.
3. **Duplicate hours** for one pool: identical rows are *deduplicated* (one
   kept); rows that disagree are all *rejected*, since neither can be trusted.
4. **Missing hours** (after 1-3): a gap of at most ``max_fill_hours`` is
   *filled* by carrying the previous hour's price and TVL forward with zero
   volume and fees — the honest reading of "nothing traded" — and the row is
   flagged ``repaired``. A longer gap, or a gap at the very start of the
   window, stays *missing*; the features then refuse to compute.

Rejected and missing rows make the asset check fail with ERROR severity, which
blocks the downstream assets; repairs alone fail it with WARN severity, which
records them without blocking.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
import pandas as pd

from zk_pipeline.features.fixed_point import MAX_RAW_INPUT, PRICE_SCALE, USD_SCALE, to_fixed
from zk_pipeline.sources.base import SNAPSHOT_COLUMNS, Window

NUMERIC = ("price", "tvl_usd", "volume_usd", "fees_usd")
FIXED = {"price": ("price_e8", PRICE_SCALE), "tvl_usd": ("tvl_e6", USD_SCALE),
         "volume_usd": ("volume_e6", USD_SCALE), "fees_usd": ("fees_e6", USD_SCALE)}
BLOCKING_ACTIONS = frozenset({"rejected", "missing"})


@dataclass(frozen=True)
class Issue:
    protocol: str
    pool: str
    hour: str
    rule: str
    action: str  # rejected | deduplicated | filled | missing
    detail: str

    def as_row(self) -> dict[str, str]:
        return self.__dict__.copy()


@dataclass
class QualityReport:
    clean: pd.DataFrame
    issues: list[Issue] = field(default_factory=list)

    @property
    def blocking(self) -> list[Issue]:
        return [i for i in self.issues if i.action in BLOCKING_ACTIONS]

    def markdown(self, limit: int = 50) -> str:
        if not self.issues:
            return "No data-quality issues."
        lines = ["| protocol | pool | hour | rule | action | detail |", "|---|---|---|---|---|---|"]
        for i in self.issues[:limit]:
            lines.append(f"| {i.protocol} | {i.pool} | {i.hour} | {i.rule} | {i.action} | {i.detail} |")
        if len(self.issues) > limit:
            lines.append(f"| … | | | | | {len(self.issues) - limit} more |")
        return "\n".join(lines)


def _iso(ts: pd.Timestamp) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def validate(raw: pd.DataFrame, window: Window, max_fill_hours: int = 3) -> QualityReport:
    """Apply the rules above; ``clean`` holds fixed-point integer columns."""
    missing_cols = [c for c in SNAPSHOT_COLUMNS if c not in raw.columns]
    if missing_cols:
        raise ValueError(f"snapshot frame lacks columns {missing_cols}")
    df = raw[list(SNAPSHOT_COLUMNS)].copy()
    df["hour"] = pd.to_datetime(df["hour"], utc=True)
    issues: list[Issue] = []
    start, end = pd.Timestamp(window.start), pd.Timestamp(window.end)
    df = df[(df["hour"] >= start) & (df["hour"] <= end)]

    # Rules 1 and 2, row by row (the frames are small: pools x window hours).
    keep = []
    fixed_rows: dict[str, list[int]] = {v[0]: [] for v in FIXED.values()}
    for idx, row in df.iterrows():
        problem = None
        values = {}
        for col in NUMERIC:
            v = pd.to_numeric(row[col], errors="coerce")
            if v is None or not np.isfinite(v):
                problem = ("non_finite", f"{col}={row[col]!r}")
                break
            values[col] = float(v)
        if problem is None:
            if values["price"] <= 0:
                problem = ("non_positive_price", f"price={values['price']}")
            elif values["tvl_usd"] <= 0:
                problem = ("non_positive_tvl", f"tvl_usd={values['tvl_usd']}")
            elif values["volume_usd"] < 0 or values["fees_usd"] < 0:
                problem = ("negative_amount", f"volume_usd={values['volume_usd']}, fees_usd={values['fees_usd']}")
        if problem is None:
            fixed = {FIXED[c][0]: to_fixed(row[c], FIXED[c][1]) for c in NUMERIC}
            if any(v >= MAX_RAW_INPUT for v in fixed.values()):
                problem = ("out_of_range", "a value does not fit 63 bits after fixed-point scaling")
        if problem:
            issues.append(Issue(row["protocol"], row["pool"], _iso(row["hour"]), problem[0], "rejected", problem[1]))
            continue
        keep.append(idx)
        for k, v in fixed.items():
            fixed_rows[k].append(v)
    df = df.loc[keep, ["hour", "protocol", "pool"]].copy()
    for k, v in fixed_rows.items():
        df[k] = pd.Series(v, index=df.index, dtype="int64")

    # Rule 3: duplicates.
    key = ["protocol", "pool", "hour"]
    dup_mask = df.duplicated(key, keep=False)
    if dup_mask.any():
        drop_idx = []
        for (protocol, pool, hour), group in df[dup_mask].groupby(key):
            values = group.drop(columns=key).drop_duplicates()
            if len(values) == 1:
                issues.append(Issue(protocol, pool, _iso(hour), "duplicate_hour", "deduplicated",
                                    f"{len(group)} identical rows, one kept"))
                drop_idx.extend(group.index[1:])
            else:
                issues.append(Issue(protocol, pool, _iso(hour), "duplicate_hour", "rejected",
                                    f"{len(group)} conflicting rows"))
                drop_idx.extend(group.index)
        df = df.drop(index=drop_idx)

    # Rule 4: gaps, per pool that appears in the frame.
    hours = pd.DatetimeIndex([pd.Timestamp(h) for h in window.hour_list()])
    out = []
    for (protocol, pool), group in df.groupby(["protocol", "pool"], sort=True):
        g = group.set_index("hour").sort_index().reindex(hours)
        g["protocol"], g["pool"] = protocol, pool
        g["repaired"] = False
        present = g["price_e8"].notna().to_numpy()
        run_start = None
        for i in range(len(hours) + 1):
            if i < len(hours) and not present[i]:
                run_start = i if run_start is None else run_start
                continue
            if run_start is not None:
                gap = range(run_start, i)
                fillable = run_start > 0 and len(gap) <= max_fill_hours
                for j in gap:
                    if fillable:
                        prev = g.iloc[run_start - 1]
                        g.iloc[j, g.columns.get_indexer(["price_e8", "tvl_e6", "volume_e6", "fees_e6", "repaired"])] = [
                            prev["price_e8"], prev["tvl_e6"], 0, 0, True]
                    issues.append(Issue(protocol, pool, _iso(hours[j]), "missing_hour",
                                        "filled" if fillable else "missing",
                                        f"gap of {len(gap)} h" + ("" if fillable else
                                        f" (limit {max_fill_hours} h, or no earlier row to carry forward)")))
                run_start = None
        g = g[g["price_e8"].notna()].reset_index(names="hour")
        out.append(g)
    clean = pd.concat(out, ignore_index=True) if out else df.assign(repaired=False)
    for col in ("price_e8", "tvl_e6", "volume_e6", "fees_e6"):
        clean[col] = clean[col].astype("int64")
    clean["repaired"] = clean["repaired"].astype(bool)
    issues.sort(key=lambda i: (i.protocol, i.pool, i.hour, i.rule))
    return QualityReport(clean=clean[["hour", "protocol", "pool", "price_e8", "tvl_e6", "volume_e6", "fees_e6", "repaired"]], issues=issues)


def expected_hours(window: Window) -> set[pd.Timestamp]:
    return {pd.Timestamp(window.start) + timedelta(hours=i) for i in range(window.hours)}
