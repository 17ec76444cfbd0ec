"""``zkp features --prices FILE.csv``: volatility of a price series.

Input: a CSV with columns ``timestamp,price`` (more columns are ignored);
timestamps ISO-8601 (UTC unless an offset is given) or unix seconds; rows in
any order. Rows with an unparseable timestamp or a missing, non-numeric,
non-finite or non-positive price, or a price outside the model's range
(``1e-8 <= price < 2^63 / 10^8``), are skipped and reported; duplicate
timestamps keep one row when the prices agree and are all rejected when they
do not. Returns are taken between consecutive remaining observations.

Output (one JSON object): ``n_observations``, ``n_returns``,
``volatility_annualized_bps`` (population standard deviation of the simple
returns × √8760 in bps, rounded down, exact), ``model_volatility_annualized_bps``
(the model's 8-decimal fixed-point value, which may differ by a basis point),
``first_timestamp``, ``last_timestamp``, ``gaps`` (pairs of consecutive
observations more than one hour apart) and ``bad_rows`` (``line``, ``reason``).
"""

from __future__ import annotations

import argparse
import csv
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path

from zk_pipeline.cli.output import emit, fail
from zk_pipeline.features.fixed_point import MAX_RAW_INPUT, PRICE_SCALE, to_fixed
from zk_pipeline.features.reference_volatility import exact_volatility_annualized_bps
from zk_pipeline.features.volatility import volatility_annualized_bps


#: Prices the model can take (8-decimal fixed point below 2^63); others are reported as bad rows.
MIN_PRICE = Decimal(1) / PRICE_SCALE
MAX_PRICE = Decimal(MAX_RAW_INPUT) / PRICE_SCALE


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("features", help="volatility of a timestamp,price CSV (JSON on stdout)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--prices", required=True, type=Path, help="CSV with timestamp,price columns")
    p.set_defaults(func=run)


def parse_timestamp(text: str) -> datetime:
    text = text.strip()
    try:
        return datetime.fromtimestamp(float(text), tz=timezone.utc)
    except ValueError:
        pass
    ts = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return ts if ts.tzinfo else ts.replace(tzinfo=timezone.utc)


def read_prices(path: Path) -> tuple[list[tuple[datetime, Decimal]], list[dict]]:
    """Valid ``(timestamp, price)`` pairs sorted by time, and the bad rows."""
    bad: list[dict] = []
    by_ts: dict[datetime, list[tuple[int, Decimal]]] = {}
    with path.open(newline="", encoding="utf-8-sig") as fh:  # a BOM (spreadsheet exports) is not a header
        reader = csv.DictReader(fh)
        cols = {c.strip().lower(): c for c in (reader.fieldnames or [])}
        if "timestamp" not in cols or "price" not in cols:
            raise ValueError(f"{path}: needs a header with 'timestamp' and 'price' columns, got {reader.fieldnames}")
        for line, row in enumerate(reader, start=2):
            raw_ts, raw_price = (row.get(cols["timestamp"]) or ""), (row.get(cols["price"]) or "")
            try:
                ts = parse_timestamp(raw_ts)
            except (ValueError, OverflowError, OSError):
                bad.append({"line": line, "reason": f"unparseable timestamp {raw_ts!r}"})
                continue
            try:
                price = Decimal(raw_price.strip())
            except InvalidOperation:
                bad.append({"line": line, "reason": f"price is not a number: {raw_price!r}"})
                continue
            if not price.is_finite():
                bad.append({"line": line, "reason": f"price is not finite: {raw_price!r}"})
            elif price <= 0:
                bad.append({"line": line, "reason": f"price is not positive: {raw_price!r}"})
            elif price < MIN_PRICE:
                bad.append({"line": line, "reason": f"price {raw_price.strip()[:40]} is below the model's resolution "
                                                    f"of 1e-8"})
            elif price >= MAX_PRICE:
                bad.append({"line": line, "reason": f"price {raw_price.strip()[:40]} is above the model's range "
                                                    f"(< 2^63 / 10^8)"})
            else:
                by_ts.setdefault(ts, []).append((line, price))
    good = []
    for ts, entries in sorted(by_ts.items()):
        if len({p for _, p in entries}) == 1:
            good.append((ts, entries[0][1]))
            for line, _ in entries[1:]:
                bad.append({"line": line, "reason": f"duplicate of timestamp {ts.isoformat()} (identical, ignored)"})
        else:
            for line, p in entries:
                bad.append({"line": line, "reason": f"conflicting prices for timestamp {ts.isoformat()} (rejected)"})
    bad.sort(key=lambda b: b["line"])
    return good, bad


def run(args: argparse.Namespace) -> int:
    try:
        rows, bad = read_prices(args.prices)
    except (OSError, ValueError, csv.Error) as exc:
        return fail(str(exc))
    if len(rows) < 2:
        return fail(f"need at least two valid price rows, found {len(rows)} ({len(bad)} bad rows)")
    prices = [p for _, p in rows]
    fixed = [to_fixed(p, PRICE_SCALE) for p in prices]
    gaps = [
        {"after": a.isoformat(), "before": b.isoformat(), "hours": (b - a).total_seconds() / 3600}
        for (a, _), (b, _) in zip(rows, rows[1:]) if (b - a).total_seconds() > 3600
    ]
    emit({
        "n_observations": len(rows),
        "n_returns": len(rows) - 1,
        "volatility_annualized_bps": exact_volatility_annualized_bps(prices),
        "model_volatility_annualized_bps": volatility_annualized_bps(fixed) if len(fixed) <= 8760 else None,
        "first_timestamp": rows[0][0].isoformat(),
        "last_timestamp": rows[-1][0].isoformat(),
        "gaps": gaps,
        "bad_rows": bad,
    })
    return 0
