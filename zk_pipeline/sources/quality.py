"""Data-quality rules: what a source may hand to the model, and what it may not.

Nothing bad is used silently. Each rule either rejects a row or repairs the
series, and every decision becomes an ``Issue`` that the ``protocol_metrics``
asset check reports row by row:

0. **Unusable rows**: no readable timestamp, a time not on the hour, a
   missing protocol or pool, a protocol other than ``PROTOCOLS`` (exact
   case), or a pool id that is empty or longer than 128 characters →
   *rejected* (a source may reject rows itself, e.g. the replay file, naming
   the file row and the bad value).
1. **Unparseable or non-finite values** (NaN, inf, text, booleans) in price,
   TVL, volume or fees → the row is *rejected*.
2. **Out-of-range values**: price ≤ 0, TVL ≤ 0, volume or fees < 0; price or
   TVL below one fixed-point unit after scaling (price < 1e-8, TVL < 1e-6:
   they would be stored as 0); any value ≥ 2**58 after scaling (so that sums
   over up to 32 pools stay below 2**63); and a (protocol, hour) whose TVL,
   volume or fees summed over its pools reach 2**63 → *rejected*.
3. **Duplicate hours** for one pool: identical rows are *deduplicated* (one
   kept); rows that disagree are all *rejected*, since neither can be trusted.
4. **Missing hours** (after 1-3): a gap of at most ``max_fill_hours`` is
   *filled* by carrying the previous hour's price and TVL forward with zero
   volume and fees — the honest reading of "nothing traded" — and the row is
   flagged ``repaired``. A longer gap, or a gap at the very start of the
   window, stays *missing*; the features then refuse to compute. An hour the
   source lacks but PostgreSQL already holds as a real (not repaired) row is
   *kept*: the stored row stays as it is and counts as present, because
   filler must never replace data that was once delivered (a file that lost
   rows would otherwise rewrite the windows of earlier decisions).
5. **Missing protocols**: every protocol in ``PROTOCOLS`` must have a row
   (any pool) for every hour of the window; hours without one are *missing*,
   named per protocol as hour ranges.

Rejected and missing rows make the asset check fail with ERROR severity, which
blocks the downstream assets (and nothing is written); repairs and kept rows
alone fail it with WARN severity, which records them without blocking.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
import pandas as pd

from zk_pipeline.features.fixed_point import MAX_RAW_INPUT, PRICE_SCALE, USD_SCALE, to_fixed
from zk_pipeline.hours import HOUR
from zk_pipeline.sources.base import PROTOCOLS, ROW_COLUMNS, SNAPSHOT_COLUMNS, Window

#: Per-row bound on every fixed-point value: sums over up to 32 pools of a protocol stay below 2**63.
MAX_ROW_VALUE = 2**58
#: Column widths of ``zkp.protocol_metrics`` (see ``db/models.py``).
MAX_POOL_LEN = 128

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
    action: str  # rejected | deduplicated | filled | kept | missing
    detail: str
    row: str = ""  # where the source had it (e.g. "line 17" of a replay CSV), if known

    def as_row(self) -> dict[str, str]:
        return self.__dict__.copy()


@dataclass
class QualityReport:
    clean: pd.DataFrame
    issues: list[Issue] = field(default_factory=list)

    @property
    def blocking(self) -> list[Issue]:
        return [i for i in self.issues if i.action in BLOCKING_ACTIONS]

    def blocked_spans(self) -> list[tuple[pd.Timestamp, pd.Timestamp] | None]:
        """The hours each blocking issue touches, as ``(first, last)`` (floored to the hour); ``None``
        for an issue whose hour is unknown (an unreadable timestamp), which touches every hour."""
        spans: list[tuple[pd.Timestamp, pd.Timestamp] | None] = []
        for issue in self.blocking:
            ends = issue.hour.split("..")
            try:
                first, last = (pd.Timestamp(e).tz_convert("UTC").floor("h") for e in (ends[0], ends[-1]))
            except (ValueError, TypeError):
                spans.append(None)
                continue
            spans.append(None if pd.isna(first) or pd.isna(last) else (first, last))
        return spans

    def markdown(self, limit: int = 50) -> str:
        if not self.issues:
            return "No data-quality issues."
        lines = ["| protocol | pool | hour | rule | action | detail |", "|---|---|---|---|---|---|"]
        for i in self.issues[:limit]:
            cells = [_cell(c) for c in (i.protocol, i.pool, i.hour, i.rule, i.action, i.detail)]
            lines.append("| " + " | ".join(cells) + " |")
        if len(self.issues) > limit:
            lines.append(f"| … | | | | | {len(self.issues) - limit} more (all in the `rows` metadata) |")
        return "\n".join(lines)


def _cell(v: str, width: int = 80) -> str:
    v = str(v).replace("|", "\\|").replace("\n", " ")
    return v if len(v) <= width else v[: width - 1] + "…"


def _iso(ts: pd.Timestamp) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def _text(v: object) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)


def _number(v: object) -> float | None:
    """A finite decimal number from a cell, or ``None`` (NaN, inf, text, booleans, anything else)."""
    if isinstance(v, (bool, np.bool_)) or v is None:
        return None
    if isinstance(v, str):
        try:
            x = float(v.strip())
        except ValueError:
            return None
    elif isinstance(v, (int, float, Decimal, np.integer, np.floating)):
        x = float(v)
    else:
        return None
    return x if math.isfinite(x) else None


def _ranges(hours: list[pd.Timestamp]) -> list[tuple[pd.Timestamp, pd.Timestamp, int]]:
    out: list[tuple[pd.Timestamp, pd.Timestamp, int]] = []
    for h in sorted(hours):
        if out and h - out[-1][1] == pd.Timedelta(hours=1):
            out[-1] = (out[-1][0], h, out[-1][2] + 1)
        else:
            out.append((h, h, 1))
    return out


def validate(raw: pd.DataFrame, window: Window, max_fill_hours: int = 3,
             required_protocols: tuple[str, ...] = PROTOCOLS,
             stored: Collection[tuple[str, str, pd.Timestamp]] = frozenset()) -> QualityReport:
    """Apply the rules above; ``clean`` holds fixed-point integer columns.

    ``stored`` holds the (protocol, pool, hour) keys of real rows already in PostgreSQL: an hour
    missing from the source but stored is kept as it is (rule 4), never filled.
    """
    stored = {(p, pool, pd.Timestamp(h).tz_convert("UTC")) for p, pool, h in stored}
    missing_cols = [c for c in SNAPSHOT_COLUMNS if c not in raw.columns]
    if missing_cols:
        raise ValueError(f"snapshot frame lacks columns {missing_cols}")
    # A source without the optional row columns gets them empty (reindex adds them as NaN).
    df = raw.reindex(columns=list(SNAPSHOT_COLUMNS) + list(ROW_COLUMNS)).reset_index(drop=True)
    df["hour"] = pd.to_datetime(df["hour"], utc=True, errors="coerce")
    issues: list[Issue] = []
    start, end = pd.Timestamp(window.start), pd.Timestamp(window.end)

    def reject(row: pd.Series, rule: str, detail: str) -> None:
        hour = _iso(row["hour"]) if pd.notna(row["hour"]) else "?"
        issues.append(Issue(_text(row["protocol"]), _text(row["pool"]), hour, rule, "rejected", detail,
                            _text(row["source_row"])))

    # Rule 0, for rows a source rejected itself or could not place on the clock (any window).
    pre = df["reject_rule"].notna() | df["hour"].isna()
    for _, row in df[pre].iterrows():
        if pd.notna(row["reject_rule"]):
            reject(row, str(row["reject_rule"]), _text(row["reject_detail"]))
        else:
            reject(row, "unreadable_timestamp", "no readable hour")
    df = df[~pre]
    df = df[(df["hour"] >= start) & (df["hour"] <= end)]

    # Rules 0-2, row by row (the frames are small: pools x window hours).
    keep = []
    fixed_rows: dict[str, list[int]] = {v[0]: [] for v in FIXED.values()}
    for idx, row in df.iterrows():
        problem = None
        protocol, pool = row["protocol"], row["pool"]
        if row["hour"] != row["hour"].floor("h"):
            problem = ("not_on_the_hour", f"hour={row['hour'].isoformat()} is not on the hour")
        elif not isinstance(protocol, str) or protocol not in PROTOCOLS:
            problem = ("unknown_protocol", f"protocol={_text(protocol)[:64]!r} (expected one of {list(PROTOCOLS)})")
        elif not isinstance(pool, str) or not pool.strip() or len(pool) > MAX_POOL_LEN:
            problem = ("bad_pool_id", f"pool={_text(pool)[:64]!r}{'…' if len(_text(pool)) > 64 else ''} "
                       f"({len(_text(pool))} chars; must be 1-{MAX_POOL_LEN})")
        values = {}
        for col in NUMERIC if problem is None else ():
            v = _number(row[col])
            if v is None:
                problem = ("non_finite", f"{col}={row[col]!r}")
                break
            values[col] = v
        if problem is None:
            if values["price"] <= 0:
                problem = ("non_positive_price", f"price={values['price']}")
            elif values["tvl_usd"] <= 0:
                problem = ("non_positive_tvl", f"tvl_usd={values['tvl_usd']}")
            elif values["volume_usd"] < 0 or values["fees_usd"] < 0:
                problem = ("negative_amount", f"volume_usd={values['volume_usd']}, fees_usd={values['fees_usd']}")
        if problem is None:
            fixed = {FIXED[c][0]: to_fixed(row[c] if isinstance(row[c], str) else values[c], FIXED[c][1])
                     for c in NUMERIC}
            if fixed["price_e8"] < 1 or fixed["tvl_e6"] < 1:
                problem = ("below_fixed_point_unit", f"price={values['price']!r} → price_e8={fixed['price_e8']}, "
                           f"tvl_usd={values['tvl_usd']!r} → tvl_e6={fixed['tvl_e6']} (each must be ≥ 1)")
            elif any(v >= MAX_ROW_VALUE for v in fixed.values()):
                big = ", ".join(f"{k}={v}" for k, v in fixed.items() if v >= MAX_ROW_VALUE)
                problem = ("out_of_range", f"{big} ≥ 2^58 after fixed-point scaling")
        if problem:
            reject(row, problem[0], problem[1])
            continue
        keep.append(idx)
        for k, v in fixed.items():
            fixed_rows[k].append(v)
    df = df.loc[keep, ["hour", "protocol", "pool", "source_row"]].copy()
    for k, v in fixed_rows.items():
        df[k] = pd.Series(v, index=df.index, dtype="int64")

    # Rule 2, per (protocol, hour): sums over pools must fit 63 bits (exact Python ints, no wrap-around).
    over = []
    for (protocol, hour), group in df.groupby(["protocol", "hour"]):
        for col in ("tvl_e6", "volume_e6", "fees_e6"):
            total = sum(int(x) for x in group[col])
            if total >= MAX_RAW_INPUT:
                for idx in group.index:
                    issues.append(Issue(protocol, df.at[idx, "pool"], _iso(hour), "protocol_sum_out_of_range",
                                        "rejected", f"{col} summed over {len(group)} pools = {total} ≥ 2^63",
                                        _text(df.at[idx, "source_row"])))
                over.extend(group.index)
                break
    df = df.drop(index=over).drop(columns="source_row")

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
        present = g["price_e8"].notna().to_numpy(copy=True)
        for i, h in enumerate(hours):
            if not present[i] and (protocol, pool, h) in stored:
                present[i] = True  # stored real row: counts as present, is neither filled nor rewritten
                issues.append(Issue(protocol, pool, _iso(h), "missing_hour", "kept",
                                    "not in the source; the real row stored earlier is kept"))
        run_start = None
        for i in range(len(hours) + 1):
            if i < len(hours) and not present[i]:
                run_start = i if run_start is None else run_start
                continue
            if run_start is not None:
                gap = range(run_start, i)
                # Filler carries the previous row forward: a row that was kept in storage is not at hand.
                fillable = run_start > 0 and len(gap) <= max_fill_hours and pd.notna(g.iloc[run_start - 1]["price_e8"])
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

    # Rule 5: every protocol needs a row (any pool) for every hour; hours already reported missing
    # for one of its pools are not repeated.
    reported = {(i.protocol, i.hour) for i in issues if i.action == "missing"}
    for protocol in required_protocols:
        have = set(clean.loc[clean["protocol"] == protocol, "hour"]) | {h for p, _, h in stored if p == protocol}
        absent = [h for h in hours if h not in have and (protocol, _iso(h)) not in reported]
        for first, last, n in _ranges(absent):
            span = _iso(first) if n == 1 else f"{_iso(first)}..{_iso(last)}"
            issues.append(Issue(protocol, "*", span, "protocol_missing_hours", "missing",
                                f"no row for {protocol} in {n} of {len(hours)} window hours"))
    issues.sort(key=lambda i: (i.protocol, i.pool, i.hour, i.rule))
    return QualityReport(clean=clean[["hour", "protocol", "pool", "price_e8", "tvl_e6", "volume_e6", "fees_e6", "repaired"]], issues=issues)


def expected_hours(window: Window) -> set[pd.Timestamp]:
    return {pd.Timestamp(window.start) + i * HOUR for i in range(window.hours)}
