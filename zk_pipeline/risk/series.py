"""From stored pool snapshots to the model's per-protocol series.

A protocol may have several pools. Per hour, its TVL, volume and fees are the
sums over its pools and its price is the price of its deepest pool (largest
TVL; ties go to the lexicographically first pool id), which is the price a
trade of meaningful size would see. Aggregation is integer-exact.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd

from zk_pipeline.risk.model import ALLOCATION_ORDER, ProtocolSeries
from zk_pipeline.risk.params import ModelParams
from zk_pipeline.risk.registry import ModelVersion
from zk_pipeline.risk.statement import Statement


class IncompleteWindow(ValueError):
    """The stored metrics do not cover the model's window; names the missing hours."""


def hourly_protocol_frame(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per (protocol, hour): price of the deepest pool, summed amounts."""
    if rows.empty:
        return pd.DataFrame(columns=["protocol", "hour", "price_e8", "tvl_e6", "volume_e6", "fees_e6"])
    ordered = rows.sort_values(["protocol", "hour", "tvl_e6", "pool"], ascending=[True, True, False, True])
    deepest = ordered.groupby(["protocol", "hour"], as_index=False).first()[["protocol", "hour", "price_e8"]]
    sums = rows.groupby(["protocol", "hour"], as_index=False)[["tvl_e6", "volume_e6", "fees_e6"]].sum()
    return deepest.merge(sums, on=["protocol", "hour"]).sort_values(["protocol", "hour"], ignore_index=True)


def protocol_series(rows: pd.DataFrame, hour: datetime, params: ModelParams) -> dict[str, ProtocolSeries]:
    """The window ending at ``hour`` for each protocol; raises ``IncompleteWindow``."""
    return _series_at(_by_protocol(hourly_protocol_frame(rows)), hour, params)


def _by_protocol(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    return {name: frame[frame["protocol"] == name].set_index("hour") for name in ALLOCATION_ORDER}


def _series_at(by_protocol: dict[str, pd.DataFrame], hour: datetime, params: ModelParams) -> dict[str, ProtocolSeries]:
    need = [pd.Timestamp(hour - timedelta(hours=i)) for i in range(params.volatility_window_hours - 1, -1, -1)]
    series: dict[str, ProtocolSeries] = {}
    problems = []
    for name in ALLOCATION_ORDER:
        g = by_protocol[name].reindex(need)
        missing = g.index[g["price_e8"].isna()]
        if len(missing):
            shown = ", ".join(ts.strftime("%Y-%m-%dT%H:%MZ") for ts in missing[:5])
            problems.append(f"{name}: {len(missing)} of {len(need)} hours missing ({shown}{', …' if len(missing) > 5 else ''})")
            continue
        u = params.utilization_window_hours
        series[name] = ProtocolSeries(
            prices=tuple(int(x) for x in g["price_e8"]),
            volumes=tuple(int(x) for x in g["volume_e6"].iloc[-u:]),
            fees=tuple(int(x) for x in g["fees_e6"].iloc[-u:]),
            tvl=int(g["tvl_e6"].iloc[-1]),
        )
    if problems:
        raise IncompleteWindow("incomplete metrics window: " + "; ".join(problems))
    return series


def build_statement(rows: pd.DataFrame, hour: datetime, model: ModelVersion) -> Statement:
    series = protocol_series(rows, hour, model.params)
    return Statement(hour=hour, version=model.version, params=model.params, series=series)


def build_statements(rows: pd.DataFrame, hours: list[datetime],
                     model: ModelVersion) -> dict[datetime, Statement | IncompleteWindow]:
    """``build_statement`` for many hours from one read of their windows' rows: per hour its
    statement, or the ``IncompleteWindow`` that stops it (the other hours are unaffected)."""
    by_protocol = _by_protocol(hourly_protocol_frame(rows))
    out: dict[datetime, Statement | IncompleteWindow] = {}
    for hour in hours:
        try:
            out[hour] = Statement(hour=hour, version=model.version, params=model.params,
                                  series=_series_at(by_protocol, hour, model.params))
        except IncompleteWindow as exc:
            out[hour] = exc
    return out
