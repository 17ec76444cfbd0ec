"""The integer risk model (version 1 is the seed system's on-chain risk engine).

Per protocol, from the statement's raw series:

* ``utilization_bps``, ``apy_bps`` (``features/utilization.py``) and
  ``volatility_bps = min(10000, volatility_annualized_bps)`` (``features/volatility.py``);
* ``liquidity_tier``: 0 if TVL >= t0, 1 if >= t1, 2 if >= t2, else 3;
* ``age_days = max(0, floor((hour - launch) / 86400))``;
* ``risk = clamp(util*wu/den + vol*wv/den + tier_risk[tier]
  + (100-audit)*an/ad + (age < cap ? (cap-age)*aw/cap : 0), risk_min, risk_max)``,
  every term floored on its own.

Allocation: ``score_p = apy_p * 10000 / (risk_p + 1)``;
``jediswap = score_j * 10000 / (score_j + score_e)`` (5000 when both scores are
0), clamped into ``[max(min_single, 10000-max_single), min(max_single, 10000-min_single)]``;
``ekubo = 10000 - jediswap``. The clamp is the same as "cap the larger share at
``max_single`` and give the rest to the other; keep both at ``min_single``".
"""

from __future__ import annotations

from dataclasses import dataclass

from zk_pipeline.features.fixed_point import BPS, clamp
from zk_pipeline.features.utilization import apy_bps, utilization_bps
from zk_pipeline.features.volatility import VolatilityTrace, volatility_trace
from zk_pipeline.risk.params import ModelParams

SECONDS_PER_DAY = 86_400
ALLOCATION_ORDER: tuple[str, str] = ("jediswap", "ekubo")


@dataclass(frozen=True)
class ProtocolSeries:
    """The raw integers the model reads for one protocol (micro-USD, price e8)."""

    prices: tuple[int, ...]  # volatility window, oldest first
    volumes: tuple[int, ...]  # utilization window, oldest first
    fees: tuple[int, ...]  # utilization window, oldest first
    tvl: int  # last hour

    def check(self, params: ModelParams, name: str) -> None:
        from zk_pipeline.features.fixed_point import MAX_RAW_INPUT

        problems = []
        if len(self.prices) != params.volatility_window_hours:
            problems.append(f"{len(self.prices)} prices, model needs {params.volatility_window_hours}")
        for label, seq in (("volumes", self.volumes), ("fees", self.fees)):
            if len(seq) != params.utilization_window_hours:
                problems.append(f"{len(seq)} {label}, model needs {params.utilization_window_hours}")
        if any(p <= 0 or p >= MAX_RAW_INPUT for p in self.prices):
            problems.append("prices must be in 1..2**63-1")
        if any(v < 0 or v >= MAX_RAW_INPUT for v in self.volumes + self.fees):
            problems.append("volumes and fees must be in 0..2**63-1")
        if not 0 < self.tvl < MAX_RAW_INPUT:
            problems.append("tvl must be in 1..2**63-1")
        if problems:
            raise ValueError(f"{name}: " + "; ".join(problems))


@dataclass(frozen=True)
class ProtocolRisk:
    volatility: VolatilityTrace
    volatility_bps: int
    volume_sum: int
    fees_sum: int
    utilization_bps: int
    apy_bps: int
    liquidity_tier: int
    age_days: int
    utilization_term: int
    volatility_term: int
    liquidity_term: int
    audit_term: int
    age_term: int
    risk_raw: int
    risk: int


@dataclass(frozen=True)
class Allocation:
    scores: dict[str, int]
    raw_jediswap_bps: int
    jediswap_bps: int
    ekubo_bps: int


@dataclass(frozen=True)
class ModelResult:
    protocols: dict[str, ProtocolRisk]
    allocation: Allocation

    def summary(self) -> dict:
        """The public outputs: what a decision records and a proof claims."""
        return {
            "protocols": {
                name: {
                    "volatility_annualized_bps": r.volatility.volatility_annualized_bps,
                    "volatility_bps": r.volatility_bps,
                    "utilization_bps": r.utilization_bps,
                    "apy_bps": r.apy_bps,
                    "liquidity_tier": r.liquidity_tier,
                    "age_days": r.age_days,
                    "risk": r.risk,
                }
                for name, r in self.protocols.items()
            },
            "allocation": {
                "jediswap_bps": self.allocation.jediswap_bps,
                "ekubo_bps": self.allocation.ekubo_bps,
            },
        }


def liquidity_tier(tvl: int, thresholds: tuple[int, int, int]) -> int:
    for tier, threshold in enumerate(thresholds):
        if tvl >= threshold:
            return tier
    return 3


def protocol_risk(series: ProtocolSeries, params: ModelParams, name: str, hour_unix: int) -> ProtocolRisk:
    series.check(params, name)
    meta = params.protocols[name]
    vt = volatility_trace(series.prices)
    vol_bps = min(BPS, vt.volatility_annualized_bps)
    v24 = sum(series.volumes)
    f24 = sum(series.fees)
    util = utilization_bps(v24, series.tvl)
    apy = apy_bps(f24, series.tvl)
    tier = liquidity_tier(series.tvl, params.liquidity_tier_thresholds)
    age = max(0, (hour_unix - meta.launch_unix) // SECONDS_PER_DAY)
    terms = risk_terms(util, vol_bps, tier, meta.audit_score, age, params)
    return ProtocolRisk(
        volatility=vt,
        volatility_bps=vol_bps,
        volume_sum=v24,
        fees_sum=f24,
        utilization_bps=util,
        apy_bps=apy,
        liquidity_tier=tier,
        age_days=age,
        utilization_term=terms["utilization"],
        volatility_term=terms["volatility"],
        liquidity_term=terms["liquidity"],
        audit_term=terms["audit"],
        age_term=terms["age"],
        risk_raw=terms["raw"],
        risk=terms["risk"],
    )


def risk_terms(utilization: int, volatility: int, tier: int, audit_score: int, age_days: int,
               params: ModelParams) -> dict[str, int]:
    """The risk formula on derived inputs: each floored term, their sum and the clamped risk."""
    p = params
    terms = {
        "utilization": utilization * p.utilization_weight // p.weight_den,
        "volatility": volatility * p.volatility_weight // p.weight_den,
        "liquidity": p.liquidity_tier_risk[tier],
        "audit": (100 - audit_score) * p.audit_num // p.audit_den,
        "age": (p.age_cap_days - age_days) * p.age_weight // p.age_cap_days if age_days < p.age_cap_days else 0,
    }
    terms["raw"] = sum(terms.values())
    terms["risk"] = clamp(terms["raw"], p.risk_min, p.risk_max)
    return terms


def risk_score(utilization: int, volatility: int, tier: int, audit_score: int, age_days: int,
               params: ModelParams | None = None) -> int:
    return risk_terms(utilization, volatility, tier, audit_score, age_days, params or ModelParams())["risk"]


def share_bounds(params: ModelParams) -> tuple[int, int]:
    """``[max(min, 10000 - max), min(max, 10000 - min)]``: the jediswap share is clamped into it, so neither share
    (the ekubo one is the rest) is above ``max_single_bps`` or below ``min_single_bps``."""
    lo = max(params.min_single_bps, BPS - params.max_single_bps)
    hi = min(params.max_single_bps, BPS - params.min_single_bps)
    return lo, hi


def allocate(apy: dict[str, int], risk: dict[str, int], params: ModelParams) -> Allocation:
    scores = {name: apy[name] * BPS // (risk[name] + 1) for name in ALLOCATION_ORDER}
    total = scores["jediswap"] + scores["ekubo"]
    raw = scores["jediswap"] * BPS // total if total else BPS // 2
    jedi = clamp(raw, *share_bounds(params))
    return Allocation(scores=scores, raw_jediswap_bps=raw, jediswap_bps=jedi, ekubo_bps=BPS - jedi)


def evaluate(series: dict[str, ProtocolSeries], params: ModelParams, hour_unix: int) -> ModelResult:
    missing = [p for p in ALLOCATION_ORDER if p not in series]
    if missing:
        raise ValueError(f"missing protocol series: {missing}")
    risks = {name: protocol_risk(series[name], params, name, hour_unix) for name in ALLOCATION_ORDER}
    alloc = allocate({n: r.apy_bps for n, r in risks.items()}, {n: r.risk for n, r in risks.items()}, params)
    return ModelResult(protocols=risks, allocation=alloc)
