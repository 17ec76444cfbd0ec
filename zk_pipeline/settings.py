"""Every environment variable the project reads, validated in one place.

The variables keep their historical names (``DATABASE_URL``, ``ZKP_PROVERS``,
``ZKP_STONE_PROVER``...); each concern gets a group (``settings.database``,
``settings.source``, ``settings.provers``, ``settings.stone``...) whose fields
name their variable through ``validation_alias``. README's "Environment
variables" table lists the same variables with the same defaults
(``tests/test_settings.py`` holds the two together).

Why one model: a wrong value used to surface wherever it was first read (a
``float()`` deep inside a run, minutes after start). Now it fails the load with
one line naming the variable (``ZKP_PROVER_TIMEOUT_S: not a number``) as a
:class:`SettingsError`: the CLI prints it as ``zkp: error: ...``, the API and
the Dagster code location refuse to start with it.

An empty variable counts as unset (``ZKP_REPLAY_PATH=`` is the shipped
dataset), except where the empty value is meaningful (``ZKP_ATLANTIC_URL=``
switches the Atlantic backend off).

Values that may carry credentials are ``SecretStr``: ``repr()``, ``str()`` and
``model_dump_json()`` show ``**********``; ``redaction`` masks their values
wherever they appear in a text, and prover child processes do not get them.

:func:`get_settings` is what code calls: it validates again only when one of
the variables changed (tests set variables with ``monkeypatch``; ``zkp run``
exports the URLs it chose), so no reload step is needed. :func:`load_settings`
validates an explicit mapping instead of the process environment.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, ValidationError, model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from zk_pipeline.hours import parse_start

#: The first hourly partition without ``ZKP_PARTITIONS_START`` (tests, ``dagster dev`` by hand).
DEFAULT_PARTITIONS_START = "2026-01-01-00:00"
DEFAULT_EKUBO_API_URL = "https://prod-api.ekubo.org"
DEFAULT_ATLANTIC_URL = "https://atlantic.api.herodotus.cloud"
METRICS_SOURCES = ("replay", "ekubo_api", "starknet_rpc")


class SettingsError(ValueError):
    """A variable holds a value the project cannot use; the message is one line naming it."""


# ------------------------------------------------------------------ value types

PositiveSeconds = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Seconds = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Port = Annotated[int, Field(ge=1, le=65535)]


def _comma_list(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def _any_base_int(value: Any) -> Any:
    """``0x``-prefixed hex or decimal, as program hashes are written."""
    if isinstance(value, str):
        try:
            return int(value.strip(), 0)
        except ValueError:
            raise ValueError("not an integer (decimal, or hex with 0x)") from None
    return value


def _partition_start(value: str) -> str:
    try:
        return parse_start(value)
    except ValueError as exc:
        raise ValueError(str(exc).removeprefix("ZKP_PARTITIONS_START=")) from None


CommaList = Annotated[list[str], BeforeValidator(_comma_list)]
AnyBaseInt = Annotated[int, BeforeValidator(_any_base_int)]


# ------------------------------------------------------------------ groups

class _Group(BaseModel):
    """One concern's variables. It receives the whole environment and keeps what it names."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    #: Variables whose empty value is a value (not "unset").
    blank_is_a_value: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def variables(cls) -> tuple[str, ...]:
        return tuple(f.validation_alias for f in cls.model_fields.values() if isinstance(f.validation_alias, str))

    @model_validator(mode="before")
    @classmethod
    def _own_variables(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        return {name: data[name] for name in cls.variables()
                if name in data and (name in cls.blank_is_a_value or str(data[name]).strip())}


def _var(name: str, default: Any = None, **kw: Any) -> Any:
    return Field(default, validation_alias=name, **kw)


class DatabaseSettings(_Group):
    """PostgreSQL: the app's tables (schema ``zkp``) and Dagster's (``public``)."""

    url: SecretStr | None = _var("DATABASE_URL")
    #: An existing server for the test suite (a scratch database is created and dropped on it).
    test_url: SecretStr | None = _var("TEST_DATABASE_URL")


class DagsterSettings(_Group):
    home: Path | None = _var("DAGSTER_HOME")
    #: Dagster's own storage URL (``dagster.yaml`` reads it); ``zkp run`` derives it from ``DATABASE_URL``.
    pg_url: SecretStr | None = _var("DAGSTER_PG_URL")
    port: Port = _var("ZKP_DAGSTER_PORT", 3000)


class ApiSettings(_Group):
    port: Port = _var("ZKP_API_PORT", 8000)


class RunSettings(_Group):
    """``zkp run``'s data directory (embedded PostgreSQL, Dagster home, logs); unset: the repository's ``.data``."""

    data_dir: Path | None = _var("ZKP_DATA_DIR")


class PartitionSettings(_Group):
    start: Annotated[str, AfterValidator(_partition_start)] | None = _var("ZKP_PARTITIONS_START")
    #: Hours per run of a backfill (the hourly assets' ``BackfillPolicy``); 0: the whole range in one run.
    backfill_hours_per_run: Annotated[int, Field(ge=0)] = _var("ZKP_BACKFILL_HOURS_PER_RUN", 168)

    @property
    def first(self) -> str:
        """The first partition key every process builds its partitions from."""
        return self.start or DEFAULT_PARTITIONS_START


class SourceSettings(_Group):
    """Where hourly pool metrics come from, and how often a failed fetch is retried."""

    kind: Annotated[Literal["replay", "ekubo_api", "starknet_rpc"], BeforeValidator(_lower)] = _var(
        "ZKP_METRICS_SOURCE", "replay")
    replay_path: Path | None = _var("ZKP_REPLAY_PATH")
    base_token: str = _var("ZKP_BASE_TOKEN", "WBTC")
    quote_token: str = _var("ZKP_QUOTE_TOKEN", "USDC")
    ekubo_api_url: str = _var("ZKP_EKUBO_API_URL", DEFAULT_EKUBO_API_URL)
    rpc_url: SecretStr | None = _var("ZKP_STARKNET_RPC_URL")
    rpc_backup_url: SecretStr | None = _var("ZKP_STARKNET_RPC_BACKUP_URL")
    retries: Annotated[int, Field(ge=0)] = _var("ZKP_SOURCE_RETRIES", 3)
    backoff_s: Seconds = _var("ZKP_SOURCE_BACKOFF_S", 5.0)


class RiskSettings(_Group):
    #: A pinned risk-model version, defined in code or registered in the database; unset: the highest code version.
    model_version: Annotated[int, Field(ge=1)] | None = _var("ZKP_MODEL_VERSION")


class ProverSettings(_Group):
    """The prover chain: backends in fallback order and how each attempt is bounded."""

    backends: CommaList = _var("ZKP_PROVERS", ["builtin"], min_length=1)
    command: SecretStr | None = _var("ZKP_PROVER_COMMAND")
    timeout_s: PositiveSeconds = _var("ZKP_PROVER_TIMEOUT_S", 300.0)
    max_attempts: Annotated[int, Field(ge=1)] = _var("ZKP_PROVER_MAX_ATTEMPTS", 2)
    backoff_s: Seconds = _var("ZKP_PROVER_BACKOFF_S", 2.0)
    #: Proofs below this conjectured security are refused.
    min_security_bits: Annotated[int, Field(ge=1)] = _var("ZKP_MIN_SECURITY_BITS", 96)
    #: Provers a run over many hours keeps busy at once; 0: one per core.
    parallelism: Annotated[int, Field(ge=0)] = _var("ZKP_PROVER_PARALLELISM", 0)


class StarkSettings(_Group):
    #: ``python`` forces the pure-Python field arithmetic; unset: the native kernels when built.
    field_backend: Annotated[Literal["native", "python"], BeforeValidator(_lower)] | None = _var(
        "ZKP_FIELD_BACKEND")


class StoneSettings(_Group):
    """The Stone backend's tools and files; unset: ``make stone``'s install, ``.cairo-venv``, shipped files."""

    prover: str | None = _var("ZKP_STONE_PROVER")
    verifier: str | None = _var("ZKP_STONE_VERIFIER")
    cairo_run: str | None = _var("ZKP_STONE_CAIRO_RUN")
    cairo_compile: str | None = _var("ZKP_STONE_CAIRO_COMPILE")
    params: Path | None = _var("ZKP_STONE_PARAMS")
    prover_config: Path | None = _var("ZKP_STONE_PROVER_CONFIG")
    version: str | None = _var("ZKP_STONE_VERSION")
    timeout_s: PositiveSeconds | None = _var("ZKP_STONE_TIMEOUT_S")


class CairoSettings(_Group):
    cache: Path | None = _var("ZKP_CAIRO_CACHE")
    xdg_cache_home: Path | None = _var("XDG_CACHE_HOME")

    @property
    def cache_dir(self) -> Path:
        """Compiled programs and recent ``cairo-run`` outputs: ``ZKP_CAIRO_CACHE``, else the user's cache."""
        if self.cache is not None:
            return self.cache
        return (self.xdg_cache_home or Path.home() / ".cache") / "zk-pipeline" / "cairo"


class AtlanticSettings(_Group):
    """Herodotus's Atlantic proving service; without a key the backend is off."""

    blank_is_a_value = frozenset({"ZKP_ATLANTIC_URL"})

    api_key: SecretStr | None = _var("ZKP_ATLANTIC_API_KEY")
    #: Empty: no service (the backend reports itself unavailable).
    url: str = _var("ZKP_ATLANTIC_URL", DEFAULT_ATLANTIC_URL)
    network: str = _var("ZKP_ATLANTIC_NETWORK", "TESTNET")
    result: str = _var("ZKP_ATLANTIC_RESULT", "PROOF_VERIFICATION_ON_L2")
    layout: str = _var("ZKP_ATLANTIC_LAYOUT", "recursive")
    job_size: str = _var("ZKP_ATLANTIC_JOB_SIZE", "S")
    artifacts_url: str | None = _var("ZKP_ATLANTIC_ARTIFACTS_URL")
    poll_s: PositiveSeconds = _var("ZKP_ATLANTIC_POLL_S", 10.0)
    timeout_s: PositiveSeconds = _var("ZKP_ATLANTIC_TIMEOUT_S", 3600.0)
    bootloader_hash: AnyBaseInt | None = _var("ZKP_ATLANTIC_BOOTLOADER_HASH")


class ExecutorSettings(_Group):
    """Where a run's steps execute: in the run's own process, or as Celery tasks on workers
    (``zk_pipeline/executors.py``; README, "Beyond one machine")."""

    kind: Annotated[Literal["in_process", "celery"], BeforeValidator(_lower)] = _var("ZKP_EXECUTOR", "in_process")
    #: Unset: the PostgreSQL of ``DATABASE_URL`` through kombu's SQLAlchemy transport.
    celery_broker_url: SecretStr | None = _var("ZKP_CELERY_BROKER_URL")
    #: Unset: the broker's own store (``executors.celery_urls``).
    celery_backend_url: SecretStr | None = _var("ZKP_CELERY_BACKEND_URL")


def _sha256_digests(value: SecretStr | None) -> SecretStr | None:
    """Each comma-separated entry a SHA-256 hex digest (the value itself never goes into the error)."""
    if value is not None:
        for part in _comma_list(value.get_secret_value()):
            if not re.fullmatch(r"[0-9a-fA-F]{64}", part):
                raise ValueError("each entry must be a SHA-256 digest: 64 hex digits, comma-separated")
    return value


class AdminSettings(_Group):
    """Who may call the API's admin endpoints (``api/auth.py``; README, "Admin").

    Only hashes are configured, never the tokens: a leaked configuration does not let anyone in.
    Unset: every admin endpoint answers 503 (admin is off), whatever token is sent.
    """

    token_sha256: Annotated[SecretStr | None, AfterValidator(_sha256_digests)] = _var("ZKP_ADMIN_TOKEN_SHA256")

    @property
    def token_hashes(self) -> list[str]:
        """The configured digests, lowercase hex."""
        return [h.lower() for h in _comma_list(self.token_sha256.get_secret_value())] if self.token_sha256 else []


class IntegritySettings(_Group):
    """The on-chain fact check against Integrity's FactRegistry (off without a node)."""

    rpc_url: SecretStr | None = _var("ZKP_INTEGRITY_RPC_URL")
    network: str | None = _var("ZKP_INTEGRITY_NETWORK")
    fact_registry: str | None = _var("ZKP_INTEGRITY_FACT_REGISTRY")


Felt = Annotated[int, BeforeValidator(_any_base_int), Field(ge=0, lt=2**251)]


class ExecutionSettings(_Group):
    """Sending verified decisions to Starknet (``zk_pipeline/execution``; README, "Sending to Starknet").

    Nothing is sent unless ``send`` is on (or ``zkp execute --send``): by default an execution is a
    dry run that builds, signs and simulates the transaction.
    """

    target: Annotated[Literal["risk_engine", "router"], BeforeValidator(_lower)] = _var(
        "ZKP_EXECUTION_TARGET", "risk_engine")
    contract: Felt | None = _var("ZKP_EXECUTION_CONTRACT")
    #: The router's entry point (the risk engine's is fixed: ``propose_and_execute_allocation``).
    entry_point: str = _var("ZKP_EXECUTION_ENTRY_POINT", "update_allocation")
    account: Felt | None = _var("ZKP_EXECUTION_ACCOUNT")
    keystore: Path | None = _var("ZKP_EXECUTION_KEYSTORE")
    keystore_password: SecretStr | None = _var("ZKP_EXECUTION_KEYSTORE_PASSWORD")
    private_key: SecretStr | None = _var("ZKP_EXECUTION_PRIVATE_KEY")
    #: Comma-separated, in the order they are tried.
    rpc_urls: SecretStr | None = _var("ZKP_EXECUTION_RPC_URLS")
    send: bool = _var("ZKP_EXECUTION_SEND", False)
    #: Request the execution of every decision recorded from now on (``execution_automation.py``).
    auto: bool = _var("ZKP_EXECUTION_AUTO", False)
    #: Unset: on for the risk engine (it reads the registry), off for the router.
    require_onchain_fact: bool | None = _var("ZKP_EXECUTION_REQUIRE_ONCHAIN_FACT")
    min_security_bits: Annotated[int, Field(ge=1)] = _var("ZKP_EXECUTION_MIN_SECURITY_BITS", 96)
    fee_margin: Annotated[float, Field(ge=1, allow_inf_nan=False)] = _var("ZKP_EXECUTION_FEE_MARGIN", 1.5)
    receipt_timeout_s: PositiveSeconds = _var("ZKP_EXECUTION_RECEIPT_TIMEOUT_S", 300.0)

    @property
    def urls(self) -> list[str]:
        return _comma_list(self.rpc_urls.get_secret_value()) if self.rpc_urls else []

    @property
    def onchain_fact_required(self) -> bool:
        return self.target == "risk_engine" if self.require_onchain_fact is None else self.require_onchain_fact


# ------------------------------------------------------------------ the whole configuration

#: The variables :func:`load_settings` was given; ``None``: the process environment.
_ENVIRON: ContextVar[Mapping[str, str] | None] = ContextVar("zkp_settings_environ", default=None)


class _ProcessEnvironment(PydanticBaseSettingsSource):
    """Every group reads the same flat variables, so each gets the whole environment."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        env = _ENVIRON.get()
        return {name: os.environ if env is None else env for name in self.settings_cls.model_fields}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    dagster: DagsterSettings = Field(default_factory=DagsterSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    run: RunSettings = Field(default_factory=RunSettings)
    partitions: PartitionSettings = Field(default_factory=PartitionSettings)
    source: SourceSettings = Field(default_factory=SourceSettings)
    risk: RiskSettings = Field(default_factory=RiskSettings)
    provers: ProverSettings = Field(default_factory=ProverSettings)
    stark: StarkSettings = Field(default_factory=StarkSettings)
    stone: StoneSettings = Field(default_factory=StoneSettings)
    cairo: CairoSettings = Field(default_factory=CairoSettings)
    atlantic: AtlanticSettings = Field(default_factory=AtlanticSettings)
    integrity: IntegritySettings = Field(default_factory=IntegritySettings)
    execution: ExecutionSettings = Field(default_factory=ExecutionSettings)
    admin: AdminSettings = Field(default_factory=AdminSettings)
    executor: ExecutorSettings = Field(default_factory=ExecutorSettings)

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   **_: PydanticBaseSettingsSource) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, _ProcessEnvironment(settings_cls)

    @classmethod
    def groups(cls) -> dict[str, type[_Group]]:
        return {name: f.annotation for name, f in cls.model_fields.items()}  # type: ignore[misc]

    def secrets(self) -> dict[str, str]:
        """Variable → value of every secret that is set (for masking, never for display)."""
        found = {}
        for name in self.groups():
            group = getattr(self, name)
            for field_name, f in type(group).model_fields.items():
                value = getattr(group, field_name)
                if isinstance(value, SecretStr):
                    found[f.validation_alias] = value.get_secret_value()
        return found


#: Every variable the settings read, in model order.
VARIABLES: tuple[str, ...] = tuple(v for group in Settings.groups().values() for v in group.variables())
#: Variables that may carry credentials (``SecretStr`` fields): masked in texts, kept from prover children.
SECRET_VARIABLES: tuple[str, ...] = tuple(
    f.validation_alias for group in Settings.groups().values() for f in group.model_fields.values()
    if SecretStr in getattr(f.annotation, "__args__", (f.annotation,)))


def _reason(error: Mapping[str, Any]) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind in ("float_parsing", "float_type"):
        return "not a number"
    if kind in ("int_parsing", "int_type", "int_from_float", "int_parsing_size"):
        return "not a whole number"
    if kind == "finite_number":
        return "not a finite number"
    if kind == "greater_than":
        return f"must be greater than {ctx['gt']:g}"
    if kind == "greater_than_equal":
        return f"must be at least {ctx['ge']:g}"
    if kind == "less_than_equal":
        return f"must be at most {ctx['le']:g}"
    if kind == "too_short":
        return "must name at least one"
    if kind == "literal_error":
        return f"must be one of {ctx['expected']}"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    return str(error["msg"])


def _one_line(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_input=False, include_url=False):
        variable = next((p for p in reversed(error["loc"]) if isinstance(p, str) and p.isupper()), None)
        where = variable or ".".join(str(p) for p in error["loc"])
        parts.append(f"{where}: {_reason(error)}")
    return " ".join("; ".join(parts).split())


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """The settings of ``env`` (default: this process's environment); ``SettingsError`` if a value is unusable."""
    token = _ENVIRON.set(env)
    try:
        return Settings()
    except ValidationError as exc:
        raise SettingsError(_one_line(exc)) from None
    finally:
        _ENVIRON.reset(token)


@lru_cache(maxsize=8)
def _load_values(values: tuple[str | None, ...]) -> Settings:
    return load_settings({k: v for k, v in zip(VARIABLES, values) if v is not None})


def get_settings() -> Settings:
    """The process's settings, validated again only when one of the variables changed."""
    return _load_values(tuple(os.environ.get(name) for name in VARIABLES))


get_settings.cache_clear = _load_values.cache_clear  # type: ignore[attr-defined]


def export(values: Mapping[str, str]) -> Settings:
    """Set variables for this process and the children it starts (``zkp run`` exports the URLs it chose:
    Dagster's ``EnvVar`` resources and its instance read them from the environment); the new settings."""
    candidate = {**{k: v for k, v in os.environ.items() if k in VARIABLES}, **values}
    load_settings(candidate)  # a bad value fails here, before the environment changes
    os.environ.update(values)
    return get_settings()


def process_environment() -> dict[str, str]:
    """A copy of the whole process environment, for what is not a setting: the environment a child
    process inherits, and variables of other tools that may hold secrets (masked by ``redaction``)."""
    return dict(os.environ)
