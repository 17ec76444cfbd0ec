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

from zk_pipeline.risk.model import ALLOCATION_ORDER, ModelResult, ProtocolSeries, evaluate
from zk_pipeline.risk.params import ModelParams, felt_hex, model_hash
from zk_pipeline.risk.registry import get_version

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
        if not isinstance(d, dict):
            raise StatementError("statement must be a JSON object")
        if d.get("format", FORMAT) != FORMAT:
            raise StatementError(f"unsupported statement format {d.get('format')!r}; expected {FORMAT!r}")
        try:
            hour = datetime.fromisoformat(str(d["hour"]).replace("Z", "+00:00"))
        except (KeyError, ValueError) as exc:
            raise StatementError(f"'hour' must be an ISO-8601 UTC hour: {exc}") from None
        if hour.tzinfo is None:
            hour = hour.replace(tzinfo=timezone.utc)
        if hour.minute or hour.second or hour.microsecond:
            raise StatementError("'hour' must be on an hour boundary")
        model = d.get("model") or {}
        try:
            version = int(model.get("version", get_version().version))
            params = ModelParams.from_dict(model["params"]) if "params" in model else get_version(version).params
        except (KeyError, TypeError, ValueError) as exc:
            raise StatementError(f"model: {exc}") from None
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
            try:
                s = ProtocolSeries(
                    prices=tuple(_int(x, f"{name}.prices") for x in p["prices"]),
                    volumes=tuple(_int(x, f"{name}.volumes") for x in p["volumes"]),
                    fees=tuple(_int(x, f"{name}.fees") for x in p["fees"]),
                    tvl=_int(p["tvl"], f"{name}.tvl"),
                )
                s.check(params, name)
            except (KeyError, TypeError) as exc:
                raise StatementError(f"protocols.{name}: missing or malformed field {exc}") from None
            except ValueError as exc:
                raise StatementError(str(exc)) from None
            series[name] = s
        outputs = d.get("outputs")
        if outputs is not None and not isinstance(outputs, dict):
            raise StatementError("'outputs' must be an object")
        return cls(hour, version, params, series, outputs)

    @classmethod
    def from_json(cls, text: str | bytes) -> "Statement":
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as exc:
            raise StatementError(f"not valid JSON: {exc}") from None


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
    raise StatementError(f"{where}: expected an integer, got {x!r}")
