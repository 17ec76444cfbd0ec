"""Model parameters and the model hash.

A model version is *defined* by its canonical JSON: ``{"name", "version",
"params"}`` serialized with sorted keys, no whitespace, ASCII only. The model
hash is SHA-256 of those bytes read as a big-endian integer with its top six
bits cleared (``& (2**250 - 1)``), the same truncation Starknet uses for
``starknet_keccak``: the result is always a valid felt252 and still carries
250 bits of collision resistance.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

MODEL_NAME = "zk-pipeline/risk"
FELT_MASK = 2**250 - 1


@dataclass(frozen=True)
class ProtocolMeta:
    audit_score: int  # 0..100, higher is better
    launch_unix: int  # seconds; age_days is derived from the statement's hour


@dataclass(frozen=True)
class ModelParams:
    """Everything a version may change. Integer-only, so hashing is unambiguous."""

    volatility_window_hours: int = 720
    utilization_window_hours: int = 24
    weight_den: int = 10_000
    utilization_weight: int = 25
    volatility_weight: int = 40
    audit_num: int = 3
    audit_den: int = 10
    age_cap_days: int = 730
    age_weight: int = 10
    #: TVL thresholds in micro-USD for liquidity tiers 0, 1, 2 (tier 3 below the last).
    liquidity_tier_thresholds: tuple[int, int, int] = (10_000_000 * 10**6, 1_000_000 * 10**6, 100_000 * 10**6)
    liquidity_tier_risk: tuple[int, int, int, int] = (0, 5, 15, 30)
    risk_min: int = 5
    risk_max: int = 95
    max_single_bps: int = 6000
    min_single_bps: int = 1000
    protocols: dict[str, ProtocolMeta] = field(
        default_factory=lambda: {
            "jediswap": ProtocolMeta(audit_score=85, launch_unix=_unix("2022-11-15")),
            "ekubo": ProtocolMeta(audit_score=90, launch_unix=_unix("2023-09-01")),
        }
    )

    def __post_init__(self) -> None:
        problems = []
        if not 1 <= self.utilization_window_hours <= self.volatility_window_hours <= 8760:
            problems.append("need 1 <= utilization_window_hours <= volatility_window_hours <= 8760")
        if self.volatility_window_hours < 3:
            problems.append("volatility_window_hours must be >= 3")
        if not self.risk_min <= self.risk_max:
            problems.append("risk_min > risk_max")
        if not 0 <= self.min_single_bps <= 5000 <= self.max_single_bps <= 10_000:
            problems.append("need 0 <= min_single_bps <= 5000 <= max_single_bps <= 10000")
        t = self.liquidity_tier_thresholds
        if len(t) != 3 or len(self.liquidity_tier_risk) != 4:
            problems.append("need 3 liquidity thresholds and 4 tier risks (tiers 0..3)")
        elif not t[0] >= t[1] >= t[2] >= 0:
            problems.append("liquidity thresholds must be non-increasing")
        if self.weight_den <= 0 or self.audit_den <= 0 or self.age_cap_days <= 0:
            problems.append("denominators must be positive")
        for name, meta in self.protocols.items():
            if not 0 <= meta.audit_score <= 100:
                problems.append(f"{name}: audit_score outside 0..100")
        if sorted(self.protocols) != ["ekubo", "jediswap"]:
            problems.append("the allocation is defined for exactly jediswap and ekubo")
        ints = [v for k, v in asdict(self).items() if k != "protocols"]
        flat = [x for v in ints for x in (v if isinstance(v, (tuple, list)) else [v])]
        if any(not isinstance(x, int) or x < 0 for x in flat):
            problems.append("all parameters must be non-negative integers")
        if problems:
            raise ValueError("invalid model parameters: " + "; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["liquidity_tier_thresholds"] = list(self.liquidity_tier_thresholds)
        d["liquidity_tier_risk"] = list(self.liquidity_tier_risk)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelParams":
        known = set(cls.__dataclass_fields__)
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown model parameters: {sorted(unknown)}")
        d = dict(d)
        if "protocols" in d:
            d["protocols"] = {k: ProtocolMeta(**v) for k, v in d["protocols"].items()}
        for key in ("liquidity_tier_thresholds", "liquidity_tier_risk"):
            if key in d:
                d[key] = tuple(d[key])
        return cls(**d)


def _unix(day: str) -> int:
    return int(datetime.fromisoformat(day).replace(tzinfo=timezone.utc).timestamp())


def canonical_definition(version: int, params: ModelParams) -> bytes:
    doc = {"name": MODEL_NAME, "version": version, "params": params.to_dict()}
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def model_hash(version: int, params: ModelParams) -> int:
    digest = hashlib.sha256(canonical_definition(version, params)).digest()
    return int.from_bytes(digest, "big") & FELT_MASK


def felt_hex(x: int) -> str:
    return "0x" + format(x, "064x")
