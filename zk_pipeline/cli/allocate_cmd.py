"""``zkp allocate --input FILE.json``: risk scores and allocation as JSON.

Two input forms are accepted:

* a **statement** (``zk_pipeline/risk/statement.py``: raw series per
  protocol) — the full model runs, features included;
* **derived inputs**, for checking the risk formula by hand::

      {"model": {"version": 1},                      # optional, default current
       "protocols": {
         "jediswap": {"utilization_bps": 500, "volatility_bps": 2000,
                      "liquidity_tier": 2, "age_days": 365, "apy_bps": 850,
                      "audit_score": 85},            # optional, default: the model's
         "ekubo": {…}}}

Output: ``model`` (version, model_hash), ``protocols`` (per protocol the
inputs, each risk term, ``risk`` and ``score``) and ``allocation``
(``jediswap_bps``, ``ekubo_bps``, ``unclamped_jediswap_bps``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from zk_pipeline.cli.output import emit, fail, load_json_file
from zk_pipeline.risk.model import ALLOCATION_ORDER, allocate, risk_terms
from zk_pipeline.felts import felt_hex
from zk_pipeline.risk.registry import get_version
from zk_pipeline.risk.statement import Statement, StatementError

DERIVED_FIELDS = ("utilization_bps", "volatility_bps", "liquidity_tier", "age_days", "apy_bps")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("allocate", help="risk scores and allocation for a statement or derived inputs",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--input", required=True, type=Path, help="statement JSON or derived-inputs JSON")
    p.set_defaults(func=run)


DERIVED_KEYS = frozenset({"model", "protocols"})
DERIVED_PROTOCOL_KEYS = frozenset(DERIVED_FIELDS) | {"audit_score"}


def _derived(doc: dict) -> dict:
    unknown = sorted(set(doc) - DERIVED_KEYS)
    if unknown:
        raise ValueError(f"unknown keys {unknown}; derived inputs have {sorted(DERIVED_KEYS)}")
    model_doc = doc.get("model") if doc.get("model") is not None else {}
    if not isinstance(model_doc, dict) or set(model_doc) - {"version"}:
        raise ValueError("'model' must be an object with at most a 'version' (derived inputs use the registry's "
                         "parameters)")
    version = model_doc.get("version")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
        raise ValueError(f"model.version must be an integer, got {version!r}"[:200])
    try:
        model = get_version(version)
    except KeyError as exc:
        raise ValueError(str(exc.args[0])) from None
    params = model.params
    protocols = doc.get("protocols")
    if not isinstance(protocols, dict) or sorted(protocols) != sorted(ALLOCATION_ORDER):
        raise ValueError(f"'protocols' must hold exactly {list(ALLOCATION_ORDER)}")
    out, risks, apys = {}, {}, {}
    for name in ALLOCATION_ORDER:
        p = protocols[name]
        if not isinstance(p, dict):
            raise ValueError(f"protocols.{name} must be an object with {list(DERIVED_FIELDS)}")
        if set(p) - DERIVED_PROTOCOL_KEYS:
            raise ValueError(f"protocols.{name}: unknown keys {sorted(set(p) - DERIVED_PROTOCOL_KEYS)}")
        missing = [f for f in DERIVED_FIELDS if f not in p]
        if missing:
            raise ValueError(f"protocols.{name}: missing {missing}")
        vals = {f: p[f] for f in DERIVED_FIELDS}
        vals["audit_score"] = p.get("audit_score", params.protocols[name].audit_score)
        for f, v in vals.items():
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"protocols.{name}.{f}: expected a non-negative integer, got {v!r}")
        if vals["utilization_bps"] > 10_000 or vals["volatility_bps"] > 10_000:
            raise ValueError(f"protocols.{name}: utilization_bps and volatility_bps are at most 10000")
        if vals["liquidity_tier"] > 3 or vals["audit_score"] > 100:
            raise ValueError(f"protocols.{name}: liquidity_tier is 0..3 and audit_score 0..100")
        terms = risk_terms(vals["utilization_bps"], vals["volatility_bps"], vals["liquidity_tier"],
                           vals["audit_score"], vals["age_days"], params)
        risks[name], apys[name] = terms["risk"], vals["apy_bps"]
        out[name] = {"inputs": vals, "terms": {k: v for k, v in terms.items() if k != "risk"}, "risk": terms["risk"]}
    return _result(model.version, model.hash_hex, out, allocate(apys, risks, params))


def _statement(doc: dict) -> dict:
    st = Statement.from_dict(doc)
    res = st.evaluate()
    out = {}
    for name, r in res.protocols.items():
        out[name] = {
            "inputs": {"utilization_bps": r.utilization_bps, "volatility_bps": r.volatility_bps,
                       "volatility_annualized_bps": r.volatility.volatility_annualized_bps,
                       "liquidity_tier": r.liquidity_tier, "age_days": r.age_days, "apy_bps": r.apy_bps,
                       "audit_score": st.params.protocols[name].audit_score},
            "terms": {"utilization": r.utilization_term, "volatility": r.volatility_term,
                      "liquidity": r.liquidity_term, "audit": r.audit_term, "age": r.age_term, "raw": r.risk_raw},
            "risk": r.risk,
        }
    return _result(st.version, felt_hex(st.model_hash), out, res.allocation)


def _result(version: int, model_hash: str, protocols: dict, alloc) -> dict:
    for name in protocols:
        protocols[name]["score"] = alloc.scores[name]
    return {
        "model": {"version": version, "model_hash": model_hash},
        "protocols": protocols,
        "allocation": {"jediswap_bps": alloc.jediswap_bps, "ekubo_bps": alloc.ekubo_bps,
                       "unclamped_jediswap_bps": alloc.raw_jediswap_bps},
    }


def run(args: argparse.Namespace) -> int:
    try:
        doc = load_json_file(args.input)
    except ValueError as exc:
        return fail(str(exc))
    if not isinstance(doc, dict):
        return fail("input must be a JSON object")
    try:
        protocols = doc.get("protocols")
        if not isinstance(protocols, dict):
            raise ValueError(f"'protocols' must be an object holding exactly {list(ALLOCATION_ORDER)}")
        is_statement = any(isinstance(p, dict) and "prices" in p for p in protocols.values())
        emit(_statement(doc) if is_statement else _derived(doc))
    except (StatementError, ValueError) as exc:
        return fail(str(exc))
    return 0
