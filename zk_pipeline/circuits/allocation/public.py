"""The public side of an allocation statement: what the AIR binds, bound-checked for it.

The AIR's argument that no equation wraps around ``p`` rests on bounds (series
and parameters below ``2^32``/``2^63``, claimed outputs below ``2^64``); they are
checked here, once, for prover and verifier alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from zk_pipeline.risk.model import ALLOCATION_ORDER


class StatementNotSupported(ValueError):
    """The statement is valid for the model but outside what this AIR can prove."""


@dataclass(frozen=True)
class PublicData:
    window: int  # W
    util_window: int  # U
    hour_unix: int
    params: Any  # ModelParams
    prices: tuple[tuple[int, ...], ...]
    volumes: tuple[tuple[int, ...], ...]
    fees: tuple[tuple[int, ...], ...]
    tvl: tuple[int, ...]
    audit: tuple[int, ...]
    launch: tuple[int, ...]
    out: dict  # claimed outputs, flattened: ("vol_ann", lane) -> int, ("jedi",) -> int, ...
    canonical: bytes


def _claimed_int(d: Any, path: str, bound: int) -> int:
    cur = d
    for key in path.split("."):
        if not isinstance(cur, dict) or key not in cur:
            raise StatementNotSupported(f"claimed outputs lack {path!r}")
        cur = cur[key]
    if isinstance(cur, bool) or not isinstance(cur, int) or not 0 <= cur < bound:
        raise StatementNotSupported(f"claimed output {path!r} must be an integer in [0, {bound})")
    return cur


#: The claimed outputs, exactly: ``ModelResult.summary()``'s keys. Anything else would be bound into the
#: statement hash without being proven, so it is refused.
PROTOCOL_OUTPUT_KEYS = frozenset({"volatility_annualized_bps", "volatility_bps", "utilization_bps", "apy_bps",
                                  "liquidity_tier", "age_days", "risk"})
ALLOCATION_OUTPUT_KEYS = frozenset({"jediswap_bps", "ekubo_bps"})


def _check_output_keys(o: Any) -> None:
    def exact(d: Any, keys, where: str) -> None:
        if not isinstance(d, dict) or set(d) != set(keys):
            extra = sorted(set(d) - set(keys)) if isinstance(d, dict) else []
            raise StatementNotSupported(f"claimed outputs {where} must have exactly the keys {sorted(keys)}"
                                        + (f" (unexpected: {extra})" if extra else ""))

    exact(o, {"protocols", "allocation"}, "(top level)")
    exact(o["protocols"], ALLOCATION_ORDER, "protocols")
    for name in ALLOCATION_ORDER:
        exact(o["protocols"][name], PROTOCOL_OUTPUT_KEYS, f"protocols.{name}")
    exact(o["allocation"], ALLOCATION_OUTPUT_KEYS, "allocation")


def public_data(statement) -> PublicData:
    """Extract (and bound-check) everything public from a statement with claimed outputs.

    The series are checked against the model's own input rules again (lengths, prices in
    ``1..2^63-1``, ...): the AIR's "nothing wraps" argument rests on those bounds, and a
    statement built in code need not have passed ``Statement.from_dict``.
    """
    if statement.outputs is None:
        raise StatementNotSupported("the statement has no claimed outputs to prove or verify")
    for name in ALLOCATION_ORDER:
        if name not in statement.series:
            raise StatementNotSupported(f"the statement has no series for {name}")
        try:
            statement.series[name].check(statement.params, name)
        except ValueError as exc:
            raise StatementNotSupported(f"series the model refuses: {exc}") from None
    _check_output_keys(statement.outputs)
    p = statement.params
    for name, value in p.to_dict().items():
        if name in ("protocols", "liquidity_tier_thresholds"):
            continue
        for x in value if isinstance(value, list) else [value]:
            if not 0 <= x < 2**32:
                raise StatementNotSupported(f"model parameter {name} must be below 2**32 for the AIR")
    if any(not 0 <= t < 2**63 for t in p.liquidity_tier_thresholds):
        raise StatementNotSupported("liquidity thresholds must be below 2**63 for the AIR")
    o = statement.outputs
    out: dict = {}
    for lane, name in enumerate(ALLOCATION_ORDER):
        pre = f"protocols.{name}."
        out[("vol_ann", lane)] = _claimed_int(o, pre + "volatility_annualized_bps", 2**64)
        out[("vol_bps", lane)] = _claimed_int(o, pre + "volatility_bps", 2**64)
        out[("util", lane)] = _claimed_int(o, pre + "utilization_bps", 2**64)
        out[("apy", lane)] = _claimed_int(o, pre + "apy_bps", 2**128)
        out[("tier", lane)] = _claimed_int(o, pre + "liquidity_tier", 4)
        out[("age", lane)] = _claimed_int(o, pre + "age_days", 2**64)
        out[("risk", lane)] = _claimed_int(o, pre + "risk", 2**64)
    out[("jedi",)] = _claimed_int(o, "allocation.jediswap_bps", 2**64)
    out[("ekubo",)] = _claimed_int(o, "allocation.ekubo_bps", 2**64)
    hour = statement.hour_unix
    launch = tuple(p.protocols[name].launch_unix for name in ALLOCATION_ORDER)
    if any(abs(hour - x) >= 2**62 for x in launch):
        raise StatementNotSupported("hour and launch times too far apart")
    return PublicData(
        window=p.volatility_window_hours,
        util_window=p.utilization_window_hours,
        hour_unix=hour,
        params=p,
        prices=tuple(statement.series[n].prices for n in ALLOCATION_ORDER),
        volumes=tuple(statement.series[n].volumes for n in ALLOCATION_ORDER),
        fees=tuple(statement.series[n].fees for n in ALLOCATION_ORDER),
        tvl=tuple(statement.series[n].tvl for n in ALLOCATION_ORDER),
        audit=tuple(p.protocols[n].audit_score for n in ALLOCATION_ORDER),
        launch=launch,
        out=out,
        canonical=statement.canonical_bytes(),
    )
