"""The model registry: the versions the code defines, the registered ones, and which one is current.

Versions are immutable once published (their hash is recorded next to every decision). Two kinds:

* **Code versions** (``MODEL_VERSIONS``), mirrored into the ``model_versions`` table by
  ``zk_pipeline.db.repository.sync_model_registry``.
* **Registered versions**, stored at run time in ``model_versions`` with origin ``registered``
  (``POST /model-registry/register``, ``zkp model register``; immutable by trigger). This package does
  not import the database (``zk_pipeline.db`` imports it), so a process with database access installs
  a *loader* (``set_loader``; ``zk_pipeline.db.model_versions.install`` does it for the Dagster code
  location, the API and ``zkp``). Every look-up a code version answers first: code versions never
  depend on the database; only a number the code does not define asks the loader, which re-validates
  the stored definition and recomputes its hash (a row that does not match is refused, never run).

Once found, a registered version is used wherever a code version is: ``get_version`` (so
``ZKP_MODEL_VERSION`` and ``RiskModelResource``), statements naming it without parameters, and
``registration`` (the proof step's check, ``model_registered`` of ``/proofs/verify``, the execution
gate). A number neither knows is ``UnknownModelVersion``, naming it: nothing falls back to another
version.

**Current model.** Without a pin it is the highest *code* version, as before registered versions
could run. A registration is one admin request; if it also switched the hourly pipeline (and what
is sent on chain) to the new parameters, nobody would have reviewed them, the processes loading the
code (UI, daemon, runs, API) would switch at different moments, and a Starknet contract only accepts
a model hash its owner approved. So a registered version runs only where ``ZKP_MODEL_VERSION`` (or
``RiskModelResource(pinned_version=...)``) names it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from zk_pipeline.felts import felt_hex
from zk_pipeline.risk.params import ModelParams, canonical_definition, model_hash
from zk_pipeline.settings import get_settings

CODE, REGISTERED = "code", "registered"


@dataclass(frozen=True)
class ModelVersion:
    version: int
    params: ModelParams
    description: str
    #: ``code`` (``MODEL_VERSIONS``) or ``registered`` (read from ``model_versions`` by the loader).
    origin: str = CODE

    @property
    def hash(self) -> int:
        return model_hash(self.version, self.params)

    @property
    def hash_hex(self) -> str:
        return felt_hex(self.hash)

    def canonical(self) -> bytes:
        return canonical_definition(self.version, self.params)


class UnknownModelVersion(KeyError):
    """Neither the code nor the registered versions have this number (a ``KeyError``, as before)."""

    def __init__(self, version: int, message: str) -> None:
        super().__init__(message)
        self.version = version

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class InvalidModelVersion(ValueError):
    """A stored definition the loader refuses: invalid parameters, or a hash or canonical form that does
    not match them (the row was altered behind the registry's back)."""

    def __init__(self, version: int, message: str) -> None:
        super().__init__(message)
        self.version = version


MODEL_VERSIONS: dict[int, ModelVersion] = {
    1: ModelVersion(
        version=1,
        params=ModelParams(),
        description="Seed on-chain risk engine: utilization/volatility/liquidity/audit/age risk, "
        "APY-over-risk allocation capped at 60/40 with a 10% floor.",
    ),
}

#: ``version -> ModelVersion | None``: the registered version of that number, None when there is none.
#: It raises ``InvalidModelVersion`` when a stored definition is invalid or does not match its hash.
Loader = Callable[[int], "ModelVersion | None"]
_loader: Loader | None = None


def set_loader(loader: Loader | None) -> Loader | None:
    """Install the look-up of registered versions (None removes it); the previous one is returned."""
    global _loader
    previous, _loader = _loader, loader
    return previous


def loader() -> Loader | None:
    return _loader


def find(version: int) -> ModelVersion | None:
    """The code version ``version``, else the registered one (through the loader), else None."""
    known = MODEL_VERSIONS.get(version)
    if known is None and _loader is not None:
        known = _loader(version)
    return known


def _unknown(version: int) -> str:
    where = "registered in the database" if _loader is not None else \
        "registered (this process has no database to look registered versions up in)"
    return (f"model version {version} is not in this registry: neither defined in code (versions "
            f"{sorted(MODEL_VERSIONS)}) nor {where}")


def get_version(version: int | None = None) -> ModelVersion:
    """The pinned version, or the current one (``ZKP_MODEL_VERSION``, else the highest code version).

    ``UnknownModelVersion`` (a ``KeyError``) names a version neither the code nor the database has.
    """
    if version is None:
        version = get_settings().risk.model_version or max(MODEL_VERSIONS)
    known = find(version)
    if known is None:
        raise UnknownModelVersion(version, f"unknown model version {version}: {_unknown(version)}")
    return known


def registration(version: int, hash_: int) -> tuple[bool | None, str]:
    """Is ``hash_`` the registered hash of model ``version``? ``(True | False | None, reason)``.

    A statement carries its model's label (``version``) and parameters; the hash binds the
    parameters, but only this registry ties the label to them. ``False``: the label names a
    known version (code or registered) whose parameters differ, so the label misleads. ``None``:
    no such version is known, so the label cannot be checked.
    """
    try:
        known = find(version)
    except InvalidModelVersion as exc:
        return False, f"{exc}; a statement labelled version {version} is not accepted"
    if known is None:
        return None, (f"{_unknown(version)}; its hash {felt_hex(hash_)} cannot be checked against a registered "
                      "model")
    if known.hash != hash_:
        return False, (f"model hash {felt_hex(hash_)} is not the registered hash {known.hash_hex} of model "
                       f"version {version}: the statement's parameters differ from that version's")
    return True, f"model hash {felt_hex(hash_)} is the registered hash of model version {version} ({known.origin})"
