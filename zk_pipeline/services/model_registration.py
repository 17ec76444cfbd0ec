"""Registering a model version at run time (``POST /model-registry/register``, ``zkp model register``).

A definition is ``{"params": {...every parameter...}, "description": "..."}``. Its parameters are
checked by the rules every statement's parameters are checked by (``risk/params.py``: each an
integer in its range; a refusal names the parameter), so a registered model is one a statement
may carry. It gets the next version number (above every version in the table and in the code),
its model hash is computed for that number, and it is stored in ``model_versions`` with origin
``registered``: immutable from then on (a trigger refuses any change, migration 0008).

A definition whose parameters are those of a version on record is a duplicate: its hash under
that version's number is that version's hash (409, naming the version). Registrations are
serialized by a transaction-scoped advisory lock, so two at once get two numbers, or one 409.

What reads registered versions: the API (``/model-registry/history``, ``/version/{n}``), this module,
and the risk registry through ``zk_pipeline.db.model_versions`` (which re-checks each stored
definition against its hash), so a registered version runs wherever ``ZKP_MODEL_VERSION`` pins it
(README, "Model registry"). It is not current unless pinned.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from zk_pipeline.db.models import ModelVersionRecord
from zk_pipeline.felts import felt_hex
from zk_pipeline.risk.params import ModelParams, canonical_definition, model_hash
from zk_pipeline.risk.registry import MODEL_VERSIONS
from zk_pipeline.services.errors import Conflict, InvalidRequest

REGISTERED = "registered"
DEFINITION_KEYS = frozenset({"params", "description"})
MAX_DESCRIPTION = 2000
#: Every parameter a definition must state (none is taken from a default).
PARAMETERS = tuple(f.name for f in fields(ModelParams))
_LOCK = "zkp-model-registry"


def checked_definition(payload: Any) -> tuple[ModelParams, str]:
    """The parameters and description of a definition; ``InvalidRequest`` naming the field otherwise."""
    if not isinstance(payload, dict):
        raise InvalidRequest("a model definition is a JSON object {\"params\": {...}, \"description\": \"...\"}")
    unknown, missing = set(payload) - DEFINITION_KEYS, DEFINITION_KEYS - set(payload)
    if unknown or missing:
        raise InvalidRequest(f"a model definition has exactly the keys {sorted(DEFINITION_KEYS)}"
                             + (f"; unknown: {sorted(unknown)[:10]}" if unknown else "")
                             + (f"; missing: {sorted(missing)}" if missing else ""))
    description, params = payload["description"], payload["params"]
    if not isinstance(description, str) or not description.strip() or len(description) > MAX_DESCRIPTION:
        raise InvalidRequest(f"description must be a non-empty string of at most {MAX_DESCRIPTION} characters")
    if not isinstance(params, dict):
        raise InvalidRequest("params must be an object of every model parameter")
    absent = [name for name in PARAMETERS if name not in params]
    if absent:
        raise InvalidRequest(f"invalid model parameters: missing {absent} (every parameter is stated)")
    try:
        return ModelParams.from_dict(params), description.strip()
    except (ValueError, TypeError) as exc:
        text_ = str(exc)
        raise InvalidRequest(text_ if text_.startswith("invalid model parameters") else
                             f"invalid model parameters: {text_}") from None


def _known(session: Session) -> dict[int, str]:
    """Version → model hash of every version on record or in the code."""
    known = {v: mv.hash_hex for v, mv in MODEL_VERSIONS.items()}
    for version, hash_hex in session.execute(select(ModelVersionRecord.version, ModelVersionRecord.model_hash)):
        known[version] = hash_hex
    return known


def register(session: Session, payload: Any) -> ModelVersionRecord:
    """Check and store a definition as the next version (committed by the caller's session scope).

    ``InvalidRequest`` for a definition that is not a valid model; ``Conflict`` for a duplicate.
    """
    params, description = checked_definition(payload)
    session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": _LOCK})
    known = _known(session)
    for version, hash_hex in sorted(known.items()):
        if felt_hex(model_hash(version, params)) == hash_hex:
            raise Conflict(f"these parameters are model version {version} (model hash {hash_hex}), "
                           "registered already; a registered model is immutable")
    version = max(known, default=0) + 1
    row = ModelVersionRecord(version=version, model_hash=felt_hex(model_hash(version, params)),
                             params=params.to_dict(), canonical_definition=canonical_definition(version, params).decode(),
                             description=description, is_current=False, origin=REGISTERED)
    session.add(row)
    session.flush()
    session.refresh(row)
    return row
