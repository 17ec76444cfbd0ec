"""Registered model versions, read back from ``model_versions`` for the risk registry to run them.

``zk_pipeline.risk`` must not import the database (the database imports it), so the registry takes a
loader (``risk.registry.set_loader``) and this module is that loader. ``install`` puts it in place;
the Dagster code location, the API and ``zkp`` call it when they start, and ``RiskModelResource``
makes sure of it before it resolves a version.

A stored row is not trusted as it stands: the table is immutable by trigger, but a superuser can
disable the trigger, and a row can be written by hand. ``load`` re-validates the stored parameters by
the rules every definition is checked by, rebuilds the canonical definition and recomputes the hash
for the row's version, and refuses (``InvalidModelVersion``) a row where either differs from what is
stored. Only rows of origin ``registered`` are read: a ``code`` row is a mirror of the code, and a
number the running code does not define is not run from its mirror.

No cache: a look-up is one primary-key read, made only for numbers the code does not define (a few
per run), and a cache would outlive the database it came from (tests recreate theirs).
"""

from __future__ import annotations

from functools import partial

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from zk_pipeline.db.models import ModelVersionRecord
from zk_pipeline.felts import felt_hex
from zk_pipeline.risk import registry
from zk_pipeline.risk.params import ModelParams, canonical_definition, model_hash
from zk_pipeline.risk.registry import InvalidModelVersion, ModelVersion


def checked(row: ModelVersionRecord) -> ModelVersion:
    """The row as a ``ModelVersion``, after re-validating it; ``InvalidModelVersion`` naming what differs."""
    version = row.version
    try:
        params = ModelParams.from_dict(row.params) if isinstance(row.params, dict) else None
    except (TypeError, ValueError) as exc:
        raise InvalidModelVersion(version, f"registered model version {version} is refused: its stored parameters "
                                           f"are invalid ({str(exc)[:300]})") from None
    if params is None:
        raise InvalidModelVersion(version, f"registered model version {version} is refused: its stored parameters "
                                           "are not an object")
    problems = []
    if canonical_definition(version, params).decode() != row.canonical_definition:
        problems.append("its stored canonical definition is not that of its parameters")
    expected = felt_hex(model_hash(version, params))
    if expected != row.model_hash:
        problems.append(f"its stored hash {row.model_hash} is not {expected}, the hash of its parameters")
    if problems:
        raise InvalidModelVersion(version, f"registered model version {version} is refused: " + "; ".join(problems))
    return ModelVersion(version=version, params=params, description=row.description, origin=registry.REGISTERED)


def find(session: Session, version: int) -> ModelVersion | None:
    """The registered version ``version`` in this database, checked; None when there is none."""
    if not 1 <= version < 2**31:  # the column is a 32-bit integer: no such row, and no query to fail
        return None
    row = session.scalar(select(ModelVersionRecord).where(
        ModelVersionRecord.version == version, ModelVersionRecord.origin == registry.REGISTERED))
    return None if row is None else checked(row)


def load(url: str | None, version: int) -> ModelVersion | None:
    """``find`` in a session of its own on ``url`` (None: ``DATABASE_URL`` at the time of the look-up).

    Without any database configured there is nothing registered to find (None).
    """
    from zk_pipeline.db.session import session_scope
    from zk_pipeline.settings import get_settings

    if url is None and get_settings().database.url is None:
        return None
    with session_scope(url) as s:
        return find(s, version)


def install(url: str | None = None) -> None:
    """Let the risk registry run registered versions, read from ``url`` (None: ``DATABASE_URL``, read at each
    look-up, so a process follows the variable as its database resource does)."""
    registry.set_loader(partial(load, url))


def installed() -> bool:
    return registry.loader() is not None


def mark_current(session: Session) -> None:
    """Mark the current version among the registered rows (``sync_model_registry`` marks the code's rows).

    The trigger of migration 0008 lets ``is_current`` change on a registered row (nothing else), so
    ``/model-registry/current`` names a pinned registered version as it names a code one.
    """
    current = registry.get_version().version
    session.execute(update(ModelVersionRecord).where(
        ModelVersionRecord.origin == registry.REGISTERED,
        ModelVersionRecord.is_current != (ModelVersionRecord.version == current),
    ).values(is_current=ModelVersionRecord.version == current))
