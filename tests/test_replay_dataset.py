"""The shipped replay dataset: rebuilt from the in-repo real series, and the allocation it drives moves.

The allocation check runs the model over one whole cycle of the ping-pong
replay (``2N - 2`` partition hours), i.e. over every 720-hour window the
replay source can ever serve, turn-arounds included, with the same fixed-point
conversion and aggregation as the pipeline (quality rules, per-protocol series).
"""

from __future__ import annotations

import importlib.util
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from tests.data import PRICES, REPO
from zk_pipeline.risk.series import hourly_protocol_frame
from zk_pipeline.risk.model import ALLOCATION_ORDER, ProtocolSeries, evaluate
from zk_pipeline.risk.params import ModelParams
from zk_pipeline.sources.base import Window
from zk_pipeline.sources.quality import validate
from zk_pipeline.sources.replay import SHIPPED_DATASET, ReplaySource

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
PARTITIONS_START = datetime(2026, 1, 1, tzinfo=timezone.utc)


def load_builder():
    spec = importlib.util.spec_from_file_location("build_replay_dataset", REPO / "scripts" / "build_replay_dataset.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def replay_allocations(source: ReplaySource, params: ModelParams) -> pd.DataFrame:
    """One row per partition hour of a full replay cycle: both risks, APYs and the shares."""
    df = source.frame()
    n = int((df["hour"].max() - df["hour"].min()) / pd.Timedelta(hours=1)) + 1
    period = 2 * n - 2
    # The first cycle that starts on or after the partitions' start: real partition hours.
    h0 = -(-int((PARTITIONS_START - EPOCH) / timedelta(hours=1)) // period) * period
    first = EPOCH + timedelta(hours=h0)
    w = params.volatility_window_hours
    window = Window(first + timedelta(hours=period - 1), period + w - 1)
    report = validate(source.fetch(window), window)
    assert report.issues == []
    frame = hourly_protocol_frame(report.clean)
    cols = {name: frame[frame["protocol"] == name].set_index("hour").reindex(window.hour_list()) for name in ALLOCATION_ORDER}
    arrays = {name: {c: [int(x) for x in g[c]] for c in ("price_e8", "tvl_e6", "volume_e6", "fees_e6")}
              for name, g in cols.items()}
    u = params.utilization_window_hours
    rows = []
    for i in range(period):
        end = w + i  # exclusive index of the window ending at partition hour first + i
        series = {name: ProtocolSeries(prices=tuple(a["price_e8"][end - w:end]), volumes=tuple(a["volume_e6"][end - u:end]),
                                       fees=tuple(a["fees_e6"][end - u:end]), tvl=a["tvl_e6"][end - 1])
                  for name, a in arrays.items()}
        hour = first + timedelta(hours=i)
        r = evaluate(series, params, int(hour.timestamp()))
        rows.append({"hour": hour, "jediswap_bps": r.allocation.jediswap_bps,
                     "raw_jediswap_bps": r.allocation.raw_jediswap_bps,
                     **{f"{p}_risk": r.protocols[p].risk for p in ALLOCATION_ORDER},
                     **{f"{p}_apy_bps": r.protocols[p].apy_bps for p in ALLOCATION_ORDER}})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def allocations() -> pd.DataFrame:
    return replay_allocations(ReplaySource(), ModelParams())


def test_shipped_dataset_is_what_the_script_builds_from_the_in_repo_series():
    builder = load_builder()
    assert builder.PRICES == PRICES
    frame, repaired = builder.build()
    assert repaired == 5
    assert SHIPPED_DATASET.read_text() == builder.to_csv_text(frame)


def test_routing_rule_is_bounded_and_follows_volume():
    import numpy as np

    share = load_builder().jediswap_volume_share
    median = np.full(5, 100.0)
    got = share(np.array([0.0, 50.0, 100.0, 300.0, 1e12]), median)
    assert got[0] == pytest.approx(0.02) and got[2] == pytest.approx(0.055) and got[-1] == pytest.approx(0.09)
    assert list(got) == sorted(got)
    assert share(np.array([0.0]), np.array([0.0]))[0] == pytest.approx(0.02)  # a dead hour after a dead month


def test_every_24_hours_of_the_replay_have_at_least_three_allocations(allocations):
    distinct = allocations["jediswap_bps"].rolling(24).apply(lambda x: len(set(x)), raw=True).iloc[23:]
    worst = distinct.idxmin()
    assert distinct.min() >= 3, (
        f"only {int(distinct.min())} distinct allocations in the 24 hours ending "
        f"{allocations['hour'][worst].isoformat()}")


def test_the_allocation_moves_within_the_bounds_both_ways(allocations):
    p = ModelParams()
    lo, hi = max(p.min_single_bps, 10_000 - p.max_single_bps), min(p.max_single_bps, 10_000 - p.min_single_bps)
    bps = allocations["jediswap_bps"]
    assert bps.between(lo, hi).all()
    # Either protocol is preferred at some hours: the APY ordering is not fixed by the data.
    assert (bps > 5000).any() and (bps < 5000).any()
    apy_j, apy_e = allocations["jediswap_apy_bps"], allocations["ekubo_apy_bps"]
    assert (apy_j > apy_e).any() and (apy_j < apy_e).any()
    # The 60 % cap is not what decides: the unclamped share stays inside the bounds at most hours.
    raw = allocations["raw_jediswap_bps"]
    assert raw.between(lo + 1, hi - 1).mean() > 0.9
    assert bps.diff().abs().median() > 0
