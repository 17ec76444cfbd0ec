"""Statement builders shared by the STARK tests (small windows keep proving fast)."""

from __future__ import annotations

import csv
import random
from datetime import datetime, timezone
from pathlib import Path

from zk_pipeline.features.fixed_point import PRICE_SCALE, USD_SCALE, to_fixed
from zk_pipeline.risk.model import ALLOCATION_ORDER, ProtocolSeries
from zk_pipeline.risk.params import ModelParams
from zk_pipeline.risk.statement import Statement
from zk_pipeline.stark.params import ProofParams

ROOT = Path(__file__).resolve().parents[2]
CSV_PATH = ROOT / "zk_pipeline" / "data" / "replay_pools.csv"
STANDARD = ROOT / "examples" / "standard_statement.json"
HOUR = datetime(2024, 3, 1, 12, tzinfo=timezone.utc)

#: Cheap parameters for tests (the verifier is told to accept their low security).
FAST = ProofParams(blowup=8, num_queries=12, grinding_bits=4, fri_folding_factor=4, fri_remainder_max_degree=15)


def small_params(window: int = 16, util: int = 4, **kw) -> ModelParams:
    return ModelParams(volatility_window_hours=window, utilization_window_hours=util, **kw)


def random_series(rng: random.Random, window: int, util: int, *, wild: bool = False) -> ProtocolSeries:
    p = [rng.randrange(10**6, 10**13)]
    for _ in range(window - 1):
        if wild and rng.random() < 0.2:
            nxt = rng.choice([1, p[-1] * rng.randrange(2, 50), rng.randrange(1, 2**62)])
        else:
            nxt = int(p[-1] * (1 + rng.gauss(0, 0.02)))
        p.append(min(2**63 - 1, max(1, nxt)))
    vols = tuple(rng.choice([0, rng.randrange(10**12), rng.randrange(2**62)]) for _ in range(util))
    fees = tuple(rng.choice([0, rng.randrange(10**9)]) for _ in range(util))
    tvl = rng.choice([1, rng.randrange(10**9, 10**14), rng.randrange(2**62)])
    return ProtocolSeries(tuple(p), vols, fees, tvl)


def random_statement(seed: int, window: int = 16, util: int = 4, wild: bool = False,
                     params: ModelParams | None = None, hour: datetime = HOUR) -> Statement:
    rng = random.Random(seed)
    params = params or small_params(window, util)
    series = {n: random_series(rng, window, util, wild=wild) for n in ALLOCATION_ORDER}
    return Statement(hour, 1, params, series).with_outputs()


def replay_rows() -> dict[str, list[dict]]:
    rows: dict[str, list[dict]] = {n: [] for n in ALLOCATION_ORDER}
    with open(CSV_PATH, newline="") as fh:
        for row in csv.DictReader(fh):
            rows[row["protocol"]].append(row)
    for rs in rows.values():
        rs.sort(key=lambda r: r["timestamp"])
    return rows


def replay_statement(end: int, window: int = 32, util: int = 4, rows=None) -> Statement:
    """Statement from the replay data for the hour at index ``end`` (exclusive window end)."""
    rows = rows or replay_rows()
    params = small_params(window, util)
    series = {}
    for name, rs in rows.items():
        w = rs[end - window : end]
        d = rs[end - util : end]
        series[name] = ProtocolSeries(
            prices=tuple(to_fixed(r["price"], PRICE_SCALE) for r in w),
            volumes=tuple(to_fixed(r["volume_usd"], USD_SCALE) for r in d),
            fees=tuple(to_fixed(r["fees_usd"], USD_SCALE) for r in d),
            tvl=to_fixed(w[-1]["tvl_usd"], USD_SCALE),
        )
    hour = datetime.fromisoformat(rows["jediswap"][end - 1]["timestamp"].replace("Z", "+00:00"))
    return Statement(hour, 1, params, series).with_outputs()
