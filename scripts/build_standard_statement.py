"""Build ``examples/standard_statement.json`` from the shipped replay dataset.

The standard statement is the model's input for the dataset's last hour
(2021-06-10T00:00:00Z): per protocol the last ``volatility_window_hours``
(720) hourly prices, the last ``utilization_window_hours`` (24) volumes and
fees and the last TVL, converted with ``fixed_point.to_fixed`` (price x 10^8,
USD x 10^6); model version 1 from the registry; and the claimed outputs the
model computes. The dataset's own hour is used as is.

Usage: ``python scripts/build_standard_statement.py [--out PATH]``
"""

from __future__ import annotations

import argparse
import csv
import json
from datetime import datetime, timezone
from pathlib import Path

from zk_pipeline.features.fixed_point import PRICE_SCALE, USD_SCALE, to_fixed
from zk_pipeline.risk.model import ALLOCATION_ORDER, ProtocolSeries
from zk_pipeline.risk.registry import get_version
from zk_pipeline.risk.statement import Statement

ROOT = Path(__file__).resolve().parents[1]
CSV_PATH = ROOT / "zk_pipeline" / "data" / "replay_pools.csv"
DEFAULT_OUT = ROOT / "examples" / "standard_statement.json"


def build(csv_path: Path = CSV_PATH, version: int = 1) -> Statement:
    model = get_version(version)
    p = model.params
    rows: dict[str, list[dict]] = {name: [] for name in ALLOCATION_ORDER}
    with open(csv_path, newline="") as fh:
        for row in csv.DictReader(fh):
            if row["protocol"] in rows:
                rows[row["protocol"]].append(row)
    series = {}
    last_hours = set()
    for name, rs in rows.items():
        rs.sort(key=lambda r: r["timestamp"])
        last_hours.add(rs[-1]["timestamp"])
        window = rs[-p.volatility_window_hours:]
        day = rs[-p.utilization_window_hours:]
        series[name] = ProtocolSeries(
            prices=tuple(to_fixed(r["price"], PRICE_SCALE) for r in window),
            volumes=tuple(to_fixed(r["volume_usd"], USD_SCALE) for r in day),
            fees=tuple(to_fixed(r["fees_usd"], USD_SCALE) for r in day),
            tvl=to_fixed(rs[-1]["tvl_usd"], USD_SCALE),
        )
    if len(last_hours) != 1:
        raise ValueError(f"protocols end at different hours: {sorted(last_hours)}")
    hour = datetime.fromisoformat(last_hours.pop().replace("Z", "+00:00")).astimezone(timezone.utc)
    return Statement(hour, version, p, series).with_outputs()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args()
    st = build()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(st.to_dict(), indent=1) + "\n")
    print(f"wrote {args.out} (hour {st.to_dict()['hour']}, statement hash {st.statement_hash()})")


if __name__ == "__main__":
    main()
