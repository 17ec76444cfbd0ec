"""The model registry: every version the code knows, and which one is current.

Versions are immutable once published (their hash is recorded next to every
decision), so they live in code and are mirrored into the ``model_versions``
table by ``zk_pipeline.db.repository.sync_model_registry``. The current model
is the highest version unless ``ZKP_MODEL_VERSION`` pins another.
"""

from __future__ import annotations

from dataclasses import dataclass

from zk_pipeline.felts import felt_hex
from zk_pipeline.risk.params import ModelParams, canonical_definition, model_hash
from zk_pipeline.settings import get_settings


@dataclass(frozen=True)
class ModelVersion:
    version: int
    params: ModelParams
    description: str

    @property
    def hash(self) -> int:
        return model_hash(self.version, self.params)

    @property
    def hash_hex(self) -> str:
        return felt_hex(self.hash)

    def canonical(self) -> bytes:
        return canonical_definition(self.version, self.params)


MODEL_VERSIONS: dict[int, ModelVersion] = {
    1: ModelVersion(
        version=1,
        params=ModelParams(),
        description="Seed on-chain risk engine: utilization/volatility/liquidity/audit/age risk, "
        "APY-over-risk allocation capped at 60/40 with a 10% floor.",
    ),
}


def get_version(version: int | None = None) -> ModelVersion:
    """The pinned version, or the current one (``ZKP_MODEL_VERSION`` or the highest)."""
    if version is None:
        version = get_settings().risk.model_version or max(MODEL_VERSIONS)
    try:
        return MODEL_VERSIONS[version]
    except KeyError:
        raise KeyError(f"unknown model version {version}; known: {sorted(MODEL_VERSIONS)}") from None


def registration(version: int, hash_: int) -> tuple[bool | None, str]:
    """Is ``hash_`` the registered hash of model ``version``? ``(True | False | None, reason)``.

    A statement carries its model's label (``version``) and parameters; the hash binds the
    parameters, but only this registry ties the label to them. ``False``: the label names a
    registered version whose parameters differ, so the label misleads. ``None``: this registry
    has no such version, so the label cannot be checked.
    """
    known = MODEL_VERSIONS.get(version)
    if known is None:
        return None, (f"model version {version} is not in this registry (known: {sorted(MODEL_VERSIONS)}); "
                      f"its hash {felt_hex(hash_)} cannot be checked against a registered model")
    if known.hash != hash_:
        return False, (f"model hash {felt_hex(hash_)} is not the registered hash {known.hash_hex} of model "
                       f"version {version}: the statement's parameters differ from that version's")
    return True, f"model hash {felt_hex(hash_)} is the registered hash of model version {version}"
