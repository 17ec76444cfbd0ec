"""The one configuration: README's variable table, one-line errors, secrets that never show."""

from __future__ import annotations

import re

import pytest

from tests.conftest import ROOT
from zk_pipeline.cli import main
from zk_pipeline.settings import (
    SECRET_VARIABLES, VARIABLES, Settings, SettingsError, export, get_settings, load_settings,
)

CODE = re.compile(r"`([^`]+)`")


def readme_table() -> dict[str, str | None]:
    """Variable → the default README states (``None``: the cell describes, it states no value)."""
    text = (ROOT / "README.md").read_text()
    section = text.split("### Environment variables", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, str | None] = {}
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        variables_cell, default_cell = [c.strip() for c in line.strip("|").split(" | ")[:2]]
        variables = CODE.findall(variables_cell)
        stated = CODE.findall(default_cell)
        plain = re.fullmatch(r"`[^`]+`(, `[^`]+`)*", default_cell) is not None  # nothing but values
        if plain:
            assert len(stated) == len(variables), line
        for i, variable in enumerate(variables):
            assert variable not in rows, f"{variable} is in the table twice"
            rows[variable] = stated[i] if plain else None
    return rows


def model_defaults() -> dict[str, str | None]:
    defaults = {}
    for group in Settings.groups().values():
        for f in group.model_fields.values():
            value = f.get_default(call_default_factory=True)
            if isinstance(value, float):
                value = f"{value:g}"
            elif isinstance(value, list):
                value = ",".join(value)
            defaults[f.validation_alias] = None if value is None else str(value)
    return defaults


def test_readme_lists_exactly_the_variables_of_the_settings_with_their_defaults():
    table, model = readme_table(), model_defaults()
    assert sorted(table) == sorted(model) == sorted(VARIABLES)
    # A cell of plain values states the default; a described default ("unset", "shipped dataset") is no value.
    assert {v: d for v, d in table.items() if d != model[v]} == {}


def test_the_dropped_variables_are_gone():
    for name in ("DAGSTER_GRAPHQL_URL", "ZKP_API_PROOF_WORKERS", "ZKP_API_RECOVERY_INTERVAL_S"):
        assert name not in VARIABLES


@pytest.mark.parametrize("variable, value, reason", [
    ("ZKP_PROVER_TIMEOUT_S", "abc", "not a number"),
    ("ZKP_PROVER_TIMEOUT_S", "0", "must be greater than 0"),
    ("ZKP_ATLANTIC_TIMEOUT_S", "nan", "not a finite number"),
    ("ZKP_SOURCE_RETRIES", "1.5", "not a whole number"),
    ("ZKP_SOURCE_RETRIES", "-1", "must be at least 0"),
    ("ZKP_PROVER_MAX_ATTEMPTS", "0", "must be at least 1"),
    ("ZKP_API_PORT", "70000", "must be at most 65535"),
    ("ZKP_METRICS_SOURCE", "ekubo", "must be one of 'replay', 'ekubo_api' or 'starknet_rpc'"),
    ("ZKP_FIELD_BACKEND", "gpu", "must be one of 'native' or 'python'"),
    ("ZKP_PROVERS", " , ", "must name at least one"),
    ("ZKP_PARTITIONS_START", "2026-02-30", "'2026-02-30' is not a calendar date"),
    ("ZKP_PARTITIONS_START", "2026-12-01T05:00\nX", "is not a UTC hour"),
    ("ZKP_ATLANTIC_BOOTLOADER_HASH", "0xnothex", "not an integer (decimal, or hex with 0x)"),
])
def test_a_bad_value_is_one_line_naming_the_variable(variable, value, reason):
    with pytest.raises(SettingsError) as caught:
        load_settings({variable: value})
    message = str(caught.value)
    assert message.startswith(f"{variable}: ") and reason in message
    assert "\n" not in message and "pydantic" not in message.lower()


def test_every_bad_value_is_named_on_the_same_line():
    with pytest.raises(SettingsError) as caught:
        load_settings({"ZKP_DAGSTER_PORT": "x", "ZKP_PROVER_BACKOFF_S": "-2", "DATABASE_URL": "postgresql://h/d"})
    assert str(caught.value) == "ZKP_DAGSTER_PORT: not a whole number; ZKP_PROVER_BACKOFF_S: must be at least 0"


def test_a_bad_secret_is_named_without_its_value():
    with pytest.raises(SettingsError) as caught:
        load_settings({"ZKP_ATLANTIC_API_KEY": "sk-live-0123456789", "ZKP_ATLANTIC_POLL_S": "sk-live-0123456789"})
    assert "ZKP_ATLANTIC_POLL_S" in str(caught.value) and "sk-live" not in str(caught.value)


SECRETS = {
    "DATABASE_URL": "postgresql://zkp:DBPASSWORD123@db.internal/zkp",
    "TEST_DATABASE_URL": "postgresql://t:TESTPASSWORD9@127.0.0.1/t",
    "DAGSTER_PG_URL": "postgresql+psycopg2://zkp:DAGSTERPASS77@db.internal/zkp",
    "ZKP_STARKNET_RPC_URL": "https://starknet.example/v3/0123456789abcdefKEYKEYKEY",
    "ZKP_STARKNET_RPC_BACKUP_URL": "https://rpc.example/?apikey=BACKUPKEY999",
    "ZKP_PROVER_COMMAND": "remote-prove --token TOKENXYZ123 {statement} {out}",
    "ZKP_ATLANTIC_API_KEY": "sk-atl-SECRET-0123456789",
    "ZKP_INTEGRITY_RPC_URL": "https://sepolia.example/rpc/v0_8/INTEGRITYKEY4242",
    "ZKP_EXECUTION_KEYSTORE_PASSWORD": "KEYSTOREPASS55",
    "ZKP_EXECUTION_PRIVATE_KEY": "0x5e3a1c0ffee0badc0de",
    "ZKP_EXECUTION_RPC_URLS": "https://a.example/rpc/EXECKEY1,https://b.example/rpc/EXECKEY2",
    "ZKP_ADMIN_TOKEN_SHA256": "5f0c" * 16,
    "ZKP_CELERY_BROKER_URL": "redis://:BROKERPASS31@cache.internal:6379/0",
    "ZKP_CELERY_BACKEND_URL": "redis://:BACKENDPASS47@cache.internal:6379/1",
}


def test_secrets_never_show_in_repr_str_or_json():
    assert sorted(SECRETS) == sorted(SECRET_VARIABLES)
    settings = load_settings(SECRETS)
    for shown in (repr(settings), str(settings), settings.model_dump_json(), repr(settings.database),
                  str(settings.atlantic), settings.source.model_dump_json()):
        for secret in ("DBPASSWORD123", "TESTPASSWORD9", "DAGSTERPASS77", "KEYKEYKEY", "BACKUPKEY999",
                       "TOKENXYZ123", "SECRET-0123456789", "INTEGRITYKEY4242", "KEYSTOREPASS55", "0x5e3a1c0ffee0badc0de",
                       "EXECKEY1", "5f0c" * 16):
            assert secret not in shown
    assert settings.secrets() == SECRETS  # the values stay available to the code that uses them


def test_empty_means_unset_except_for_the_atlantic_url():
    settings = load_settings({"ZKP_REPLAY_PATH": "", "ZKP_PROVER_TIMEOUT_S": " ", "ZKP_ATLANTIC_URL": "",
                              "DATABASE_URL": ""})
    assert settings.source.replay_path is None and settings.provers.timeout_s == 300
    assert settings.database.url is None
    assert settings.atlantic.url == ""  # the backend switched off, not the default service
    assert load_settings({}).atlantic.url == "https://atlantic.api.herodotus.cloud"


def test_values_are_parsed_once_into_their_types(tmp_path):
    settings = load_settings({"ZKP_PROVERS": " stone, builtin ,", "ZKP_FIELD_BACKEND": "Python",
                              "ZKP_ATLANTIC_BOOTLOADER_HASH": "0x1f", "ZKP_PARTITIONS_START": "2026-11-30",
                              "ZKP_CAIRO_CACHE": "", "XDG_CACHE_HOME": str(tmp_path)})
    assert settings.provers.backends == ["stone", "builtin"]
    assert settings.stark.field_backend == "python"
    assert settings.atlantic.bootloader_hash == 31
    assert settings.partitions.first == "2026-11-30-00:00"
    assert settings.cairo.cache_dir == tmp_path / "zk-pipeline" / "cairo"
    assert load_settings({}).partitions.first == "2026-01-01-00:00"


def test_get_settings_follows_the_environment(monkeypatch):
    monkeypatch.setenv("ZKP_PROVERS", "command")
    first = get_settings()
    assert first.provers.backends == ["command"] and get_settings() is first  # unchanged: not validated again
    monkeypatch.setenv("ZKP_PROVERS", "stone")
    assert get_settings().provers.backends == ["stone"]
    monkeypatch.setenv("ZKP_SOURCE_BACKOFF_S", "soon")
    with pytest.raises(SettingsError, match="ZKP_SOURCE_BACKOFF_S: not a number"):
        get_settings()


def test_export_refuses_a_bad_value_before_changing_anything(monkeypatch):
    monkeypatch.setenv("ZKP_DATA_DIR", "/tmp/zkp-before")
    with pytest.raises(SettingsError, match="ZKP_API_PORT"):
        export({"ZKP_DATA_DIR": "/tmp/zkp-after", "ZKP_API_PORT": "http"})
    assert str(get_settings().run.data_dir) == "/tmp/zkp-before"
    monkeypatch.setenv("ZKP_API_PORT", "8000")  # monkeypatch restores what export sets below
    assert export({"ZKP_API_PORT": "8123"}).api.port == 8123


def test_the_cli_reports_a_bad_variable_as_one_error_line(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("ZKP_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ZKP_PROVER_TIMEOUT_S", "five minutes")
    assert main(["run", "--no-serve"]) == 2
    assert capsys.readouterr().err == "zkp: error: ZKP_PROVER_TIMEOUT_S: not a number\n"
    # Every command checks every variable before it starts, so none wraps the error in its own words.
    assert main(["migrate"]) == 2
    assert capsys.readouterr().err == "zkp: error: ZKP_PROVER_TIMEOUT_S: not a number\n"
    assert not any(tmp_path.iterdir())  # nothing was started


def test_only_the_settings_module_reads_the_environment():
    """Every variable is read through ``zk_pipeline.settings``: a read elsewhere would skip its validation."""
    reads = re.compile(r"\bos\.(?:environ|getenv)\b|\bfrom os import [^\n]*\b(?:environ|getenv)\b")
    found = [f"{path.relative_to(ROOT)}:{n}"
             for package in ("zk_pipeline", "api") for path in sorted((ROOT / package).rglob("*.py"))
             if path != ROOT / "zk_pipeline" / "settings.py"
             for n, line in enumerate(path.read_text().splitlines(), 1) if reads.search(line)]
    assert found == []


def test_the_backends_and_the_model_registry_take_their_values_from_the_settings(monkeypatch, tmp_path):
    from zk_pipeline.circuits.allocation import select_field_backend
    from zk_pipeline.facts.integrity import registry_from_env
    from zk_pipeline.provers.atlantic import AtlanticBackend
    from zk_pipeline.provers.stone import StoneBackend
    from zk_pipeline.risk.registry import get_version
    from zk_pipeline.stark import fvec

    stone = StoneBackend.from_env({"ZKP_STONE_TIMEOUT_S": "12.5", "ZKP_CAIRO_CACHE": str(tmp_path),
                                   "ZKP_STONE_VERSION": "", "ZKP_STONE_PARAMS": ""})
    assert (stone.timeout_s, stone.cache_dir, stone.stone_version) == (12.5, tmp_path, "stone6")
    assert stone.params_file.name == "cpu_air_params.json"
    with pytest.raises(SettingsError, match="^ZKP_STONE_TIMEOUT_S: not a number$"):
        StoneBackend.from_env({"ZKP_STONE_TIMEOUT_S": "soon"})

    atlantic = AtlanticBackend.from_env({"ZKP_ATLANTIC_POLL_S": "2", "ZKP_ATLANTIC_BOOTLOADER_HASH": "0x1f"})
    assert (atlantic.client.poll_interval_s, atlantic.bootloader_hash, atlantic.timeout_s) == (2, 31, 3600)
    with pytest.raises(SettingsError, match="^ZKP_ATLANTIC_TIMEOUT_S: must be greater than 0$"):
        AtlanticBackend.from_env({"ZKP_ATLANTIC_TIMEOUT_S": "0"})

    registry = registry_from_env({"ZKP_INTEGRITY_RPC_URL": "http://node", "ZKP_INTEGRITY_FACT_REGISTRY": "0xabc"})
    assert registry is not None and registry.address == 0xABC

    monkeypatch.setenv("ZKP_MODEL_VERSION", "1")
    assert get_version().version == 1
    monkeypatch.setenv("ZKP_MODEL_VERSION", "0")
    with pytest.raises(SettingsError, match="ZKP_MODEL_VERSION: must be at least 1"):
        get_version()

    before = fvec.BACKEND
    try:
        assert select_field_backend({"ZKP_FIELD_BACKEND": "Python"}) == "python" == fvec.BACKEND
        with pytest.raises(SettingsError, match="ZKP_FIELD_BACKEND: must be one of"):
            select_field_backend({"ZKP_FIELD_BACKEND": "gpu"})
    finally:
        fvec.use_backend(before)
