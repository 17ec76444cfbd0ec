"""Utilization and fee APY over the trailing day, in basis points.

* ``utilization_bps = min(10000, floor(V24 * 10000 / TVL))``
* ``apy_bps = floor(F24 * 365 * 10000 / TVL)`` (not capped: the model's
  allocation formula is what bounds its influence)

``V24`` and ``F24`` are the sums of the last ``utilization_window_hours``
(24 in model v1) hourly volume and fee observations and ``TVL`` is the last
observation's TVL, all in micro-USD (``USD_SCALE``). TVL must be positive.
"""

from __future__ import annotations

from zk_pipeline.features.fixed_point import BPS


def utilization_bps(volume_sum: int, tvl: int) -> int:
    if tvl <= 0:
        raise ValueError("TVL must be positive")
    return min(BPS, volume_sum * BPS // tvl)


def apy_bps(fees_sum: int, tvl: int) -> int:
    if tvl <= 0:
        raise ValueError("TVL must be positive")
    return fees_sum * 365 * BPS // tvl
