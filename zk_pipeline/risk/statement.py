"""The statement: one hour's model inputs, the model, and (optionally) claimed outputs.

It is the unit the model evaluates, the prover proves and the verifier checks,
and the JSON form is a public interface (``zkp allocate``, ``zkp prove``,
``POST /api/v1/proofs/...``)::

    {
      "format": "zk-pipeline/statement/v1",
      "hour": "2026-11-26T22:00:00Z",              # UTC hour the decision is for
      "model": {"version": 1, "model_hash": "0x…", "params": {…}},
      "protocols": {
        "jediswap": {"prices": [int × volatility_window_hours],   # price × 10^8, oldest first
                     "volumes": [int × utilization_window_hours], # USD × 10^6, oldest first
                     "fees": [int × utilization_window_hours],    # USD × 10^6
                     "tvl": int},                                 # USD × 10^6, last hour
        "ekubo": {…}
      },
      "outputs": {…}                                # optional: claimed ModelResult.summary()
    }

``model.params`` and ``model.model_hash`` are optional on input (the registry
fills them from ``version``, or the current version); when present the hash
must match the params, so a statement is self-contained for a verifier.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from zk_pipeline.jsonio import JsonInputError, parse_json
from zk_pipeline.risk.model import ALLOCATION_ORDER, ModelResult, ProtocolSeries, evaluate
from zk_pipeline.felts import felt_hex
from zk_pipeline.risk.params import ModelParams, model_hash
from zk_pipeline.risk.registry import get_version, registration

FORMAT = "zk-pipeline/statement/v1"


class StatementError(ValueError):
    """The statement JSON is malformed or inconsistent; the message says where."""


@dataclass(frozen=True)
class Statement:
    hour: datetime
    version: int
    params: ModelParams
    series: dict[str, ProtocolSeries]
    outputs: dict[str, Any] | None = None

    @property
    def hour_unix(self) -> int:
        return int(self.hour.timestamp())

    @property
    def model_hash(self) -> int:
        return model_hash(self.version, self.params)

    def registration(self) -> tuple[bool | None, str]:
        """Whether the model label (``version``) and the parameters' hash agree with the registry."""
        return registration(self.version, self.model_hash)

    def evaluate(self) -> ModelResult:
        return evaluate(self.series, self.params, self.hour_unix)

    def with_outputs(self) -> "Statement":
        return Statement(self.hour, self.version, self.params, self.series, self.evaluate().summary())

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "format": FORMAT,
            "hour": self.hour.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "model": {"version": self.version, "model_hash": felt_hex(self.model_hash), "params": self.params.to_dict()},
            "protocols": {
                name: {"prices": list(s.prices), "volumes": list(s.volumes), "fees": list(s.fees), "tvl": s.tvl}
                for name, s in self.series.items()
            },
        }
        if self.outputs is not None:
            d["outputs"] = self.outputs
        return d

    def canonical_bytes(self) -> bytes:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":")).encode()

    def statement_hash(self) -> str:
        """SHA-256 of the canonical JSON: the idempotency key for proofs."""
        return hashlib.sha256(self.canonical_bytes()).hexdigest()

    @classmethod
    def from_dict(cls, d: Any) -> "Statement":
        """Parse and check a statement; every problem is a ``StatementError`` saying where.

        Strict on purpose: unknown keys are refused (they would enter the
        statement hash without meaning anything), series must be JSON arrays of
        integers, the hour is converted to UTC and must be a whole hour in
        ``MIN_YEAR..MAX_YEAR``.
        """
        try:
            return cls._from_dict(d)
        except StatementError:
            raise
        except (AttributeError, KeyError, TypeError, ValueError, OverflowError, RecursionError) as exc:
            raise StatementError(f"malformed statement ({type(exc).__name__}: {_short(exc)})") from None

    @classmethod
    def _from_dict(cls, d: Any) -> "Statement":
        _only(d, TOP_KEYS, "statement")
        if d.get("format", FORMAT) != FORMAT:
            raise StatementError(f"unsupported statement format {_short(d.get('format'))}; expected {FORMAT!r}")
        hour = _hour(d.get("hour"))
        model = d.get("model") if d.get("model") is not None else {}
        _only(model, MODEL_KEYS, "model")
        version = model.get("version")
        if version is None:
            version = get_version().version
        elif isinstance(version, bool) or not isinstance(version, int) or not 1 <= version < 2**31:
            raise StatementError(f"model.version must be an integer in 1..2^31-1, got {_short(version)}")
        try:
            if "params" in model:
                if not isinstance(model["params"], dict):
                    raise StatementError("model.params must be an object")
                params = ModelParams.from_dict(model["params"])
            else:
                params = get_version(version).params
        except StatementError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise StatementError(f"model.params: {_short(exc, 400)}") from None
        if "model_hash" in model:
            claimed = _int(model["model_hash"], "model.model_hash")
            if claimed != model_hash(version, params):
                raise StatementError("model.model_hash does not match model.version and model.params")
        protocols = d.get("protocols")
        if not isinstance(protocols, dict) or sorted(protocols) != sorted(ALLOCATION_ORDER):
            raise StatementError(f"'protocols' must hold exactly {list(ALLOCATION_ORDER)}")
        series = {}
        for name in ALLOCATION_ORDER:
            p = protocols[name]
            _only(p, SERIES_KEYS, f"protocols.{name}", required=True)
            try:
                s = ProtocolSeries(
                    prices=_ints(p["prices"], f"{name}.prices"),
                    volumes=_ints(p["volumes"], f"{name}.volumes"),
                    fees=_ints(p["fees"], f"{name}.fees"),
                    tvl=_int(p["tvl"], f"{name}.tvl"),
                )
                s.check(params, name)
            except StatementError:
                raise
            except ValueError as exc:
                raise StatementError(str(exc)) from None
            series[name] = s
        outputs = d.get("outputs")
        if outputs is not None:
            _check_outputs(outputs, "outputs")
        return cls(hour, version, params, series, outputs)

    @classmethod
    def from_json(cls, text: str | bytes) -> "Statement":
        try:
            data = parse_json(text)
        except JsonInputError as exc:
            raise StatementError(str(exc)) from None
        return cls.from_dict(data)


TOP_KEYS = frozenset({"format", "hour", "model", "protocols", "outputs"})
MODEL_KEYS = frozenset({"version", "model_hash", "params"})
SERIES_KEYS = frozenset({"prices", "volumes", "fees", "tvl"})
#: Decisions are for hours of this range (UTC); outside it the ISO form does not round-trip.
MIN_YEAR, MAX_YEAR = 1970, 9998


def _short(x: Any, limit: int = 120) -> str:
    text = repr(x) if not isinstance(x, BaseException) else str(x)
    return text if len(text) <= limit else text[:limit] + "…"


def _only(d: Any, keys: frozenset[str], where: str, required: bool = False) -> None:
    if not isinstance(d, dict):
        raise StatementError(f"{where} must be a JSON object")
    unknown = sorted(set(d) - keys)
    if unknown:
        raise StatementError(f"{where}: unknown keys {_short(unknown)}; allowed: {sorted(keys)}")
    if required and set(d) != keys:
        raise StatementError(f"{where}: missing {sorted(keys - set(d))}")


def _hour(raw: Any) -> datetime:
    if not isinstance(raw, str) or len(raw) > 40:
        raise StatementError(f"'hour' must be an ISO-8601 hour like 2026-11-20T10:00:00Z, got {_short(raw)}")
    try:
        hour = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        hour = hour.replace(tzinfo=timezone.utc) if hour.tzinfo is None else hour.astimezone(timezone.utc)
    except (ValueError, OverflowError) as exc:
        raise StatementError(f"'hour' must be an ISO-8601 UTC hour: {exc}") from None
    if not MIN_YEAR <= hour.year <= MAX_YEAR:
        raise StatementError(f"'hour' must be in the years {MIN_YEAR}..{MAX_YEAR} (UTC), got {hour.isoformat()}")
    if hour.minute or hour.second or hour.microsecond:
        raise StatementError(f"'hour' must be on an hour boundary in UTC, got {hour.isoformat()}")
    return hour


def _check_outputs(x: Any, where: str) -> None:
    """Claimed outputs are nested objects of plain integers in ``[0, 2^128)`` (the AIR checks the keys)."""
    if not isinstance(x, dict):
        raise StatementError(f"{where} must be a JSON object")
    for key, v in x.items():
        if isinstance(v, dict):
            _check_outputs(v, f"{where}.{key}")
        elif type(v) is not int or not 0 <= v < 2**128:
            raise StatementError(f"{where}.{key}: expected an integer in 0..2^128-1, got {_short(v)}")


def _ints(x: Any, where: str) -> tuple[int, ...]:
    if not isinstance(x, list):
        raise StatementError(f"{where}: expected a JSON array of integers, got {type(x).__name__}")
    return tuple(_int(v, where) for v in x)


def _int(x: Any, where: str) -> int:
    if isinstance(x, bool):
        raise StatementError(f"{where}: expected an integer, got a boolean")
    if isinstance(x, int):
        return x
    if isinstance(x, str):
        try:
            return int(x, 0)
        except ValueError:
            pass
    raise StatementError(f"{where}: expected an integer, got {_short(x)}")
