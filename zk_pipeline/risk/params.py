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
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from typing import Any

MODEL_NAME = "zk-pipeline/risk"
FELT_MASK = 2**250 - 1
#: Launch times are Unix seconds in the years 1970..9999, the range a statement's hour may take.
MIN_LAUNCH_UNIX, MAX_LAUNCH_UNIX = 0, 253_402_300_799
SEQUENCE_LENGTHS = {"liquidity_tier_thresholds": 3, "liquidity_tier_risk": 4}
PROTOCOL_META_KEYS = frozenset({"audit_score", "launch_unix"})


def _short(x: Any, limit: int = 60) -> str:
    text = repr(x)
    return text if len(text) <= limit else text[:limit] + "…"


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
        # Types first: a float, NaN or boolean would hash differently from the integer it resembles
        # and round differently in the prover and the verifier; every comparison below needs ints.
        problems = [f"{where} must be {what}, got {_short(v)}" for where, v, what in self._integers()
                    if type(v) is not int]
        if problems:
            raise ValueError("invalid model parameters: " + "; ".join(problems))
        if not 1 <= self.utilization_window_hours <= self.volatility_window_hours <= 8760:
            problems.append("need 1 <= utilization_window_hours <= volatility_window_hours <= 8760")
        if self.volatility_window_hours < 3:
            problems.append("volatility_window_hours must be >= 3")
        if not self.risk_min <= self.risk_max:
            problems.append("risk_min > risk_max")
        if not 0 <= self.min_single_bps <= 5000 <= self.max_single_bps <= 10_000:
            problems.append("need 0 <= min_single_bps <= 5000 <= max_single_bps <= 10000")
        t = self.liquidity_tier_thresholds
        if len(t) == 3 and not t[0] >= t[1] >= t[2] >= 0:
            problems.append("liquidity thresholds must be non-increasing")
        if self.weight_den <= 0 or self.audit_den <= 0 or self.age_cap_days <= 0:
            problems.append("denominators must be positive")
        for name, meta in self.protocols.items():
            if not 0 <= meta.audit_score <= 100:
                problems.append(f"protocols.{name}.audit_score must be in 0..100, got {meta.audit_score}")
            if not MIN_LAUNCH_UNIX <= meta.launch_unix <= MAX_LAUNCH_UNIX:
                problems.append(f"protocols.{name}.launch_unix must be in {MIN_LAUNCH_UNIX}..{MAX_LAUNCH_UNIX} "
                                f"(seconds, years 1970..9999), got {meta.launch_unix}")
        if sorted(self.protocols) != ["ekubo", "jediswap"]:
            problems.append("the allocation is defined for exactly jediswap and ekubo")
        if any(v < 0 for _, v, _ in self._integers()):
            problems.append("all parameters must be non-negative integers")
        if problems:
            raise ValueError("invalid model parameters: " + "; ".join(problems))

    def _integers(self):
        """``(name, value, what it must be)`` of every integer the model reads, named as in the JSON.

        A container of the wrong shape is yielded whole (it is not an int, so it is reported).
        """
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "protocols":
                if not isinstance(value, dict) or any(not isinstance(m, ProtocolMeta) for m in value.values()):
                    yield "protocols", value, "an object of {name: {audit_score, launch_unix}}"
                    continue
                for name, meta in value.items():
                    yield f"protocols.{name}.audit_score", meta.audit_score, "an integer"
                    yield f"protocols.{name}.launch_unix", meta.launch_unix, "an integer"
            elif f.name in SEQUENCE_LENGTHS:
                if not isinstance(value, tuple) or len(value) != SEQUENCE_LENGTHS[f.name]:
                    yield f.name, value, f"a list of {SEQUENCE_LENGTHS[f.name]} integers"
                    continue
                yield from ((f"{f.name}[{i}]", x, "an integer") for i, x in enumerate(value))
            else:
                yield f.name, value, "an integer"

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
            protocols = d["protocols"]
            if not isinstance(protocols, dict):
                raise ValueError("protocols must be an object of {name: {audit_score, launch_unix}}")
            for name, meta in protocols.items():
                if not isinstance(meta, dict) or set(meta) != PROTOCOL_META_KEYS:
                    raise ValueError(f"protocols.{name} must be an object with exactly {sorted(PROTOCOL_META_KEYS)}")
            d["protocols"] = {k: ProtocolMeta(**v) for k, v in protocols.items()}
        for key in SEQUENCE_LENGTHS:
            if key in d:
                if not isinstance(d[key], list):
                    raise ValueError(f"{key} must be a list of {SEQUENCE_LENGTHS[key]} integers")
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
