"""Secrets stay out of logs, errors, Dagster's snapshots, the database and prover child processes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from tests.conftest import ROOT
from zk_pipeline.db.migrate import alembic_config
from zk_pipeline.redaction import child_environment, public_text, redact_url


@pytest.mark.parametrize("url, secret", [
    ("postgresql://zkp:hunter2@db.internal:5432/zkp", "hunter2"),
    ("postgresql://:onlypass@127.0.0.1/db", "onlypass"),
    ("postgresql://u@127.0.0.1/db?password=hunter22", "hunter22"),
    ("postgresql://u@127.0.0.1/db?sslmode=require&password=hunter23", "hunter23"),
    ("https://user:pa%40ss@host/v3/x", "pa%40ss"),
    ("connect failed: host=h dbname=d user=u password=hunter24 sslmode=x", "hunter24"),
])
def test_every_password_form_is_masked(url, secret):
    masked = public_text(url, environ={})  # not a known secret: masked by its shape
    assert secret not in masked and "***" in masked


@pytest.mark.parametrize("text, secret", [
    ("node https://starknet-mainnet.g.alchemy.com/starknet/version/rpc/v0_7/aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY down",
     "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY"),
    ("POST https://starknet-mainnet.infura.io/v3/0f1e2d3c4b5a69788796a5b4c3d2e1f0: 502",
     "0f1e2d3c4b5a69788796a5b4c3d2e1f0"),
    ("https://starknet-mainnet.blastapi.io/6c5ed8e1-3a4b-4c5d-9e8f-0a1b2c3d4e5f/rpc/v0_7 timed out",
     "6c5ed8e1-3a4b-4c5d-9e8f-0a1b2c3d4e5f"),
    ("GET https://api.example/v1/tvl?chain=1&apikey=QQQ-key-777&x=1", "QQQ-key-777"),
    ("GET https://api.example/v1/tvl?access_token=at.0123456789", "at.0123456789"),
    ("GET https://api.example/v1/tvl;token=semicolon-token-1", "semicolon-token-1"),
    ('service answered {"error": "bad key", "api_key": "sk-live-echoed-42"}', "sk-live-echoed-42"),
    ("remote-prove --token T0KEN-abc123 --api-key=K3Y-abc123 in.json", "abc123"),
    ("https://u:p%3Ass%40word@host:8443/x", "p%3Ass%40word"),
    ("redis://:only-the-password@cache:6379/0", "only-the-password"),
])
def test_secrets_of_unknown_urls_and_texts_are_masked_by_their_shape(text, secret):
    out = public_text(text, environ={})
    assert secret not in out and "***" in out


@pytest.mark.parametrize("text", [
    "GET https://prod-api.ekubo.org/pair/23448594291968334/"
    "0x053c91253bc9682c04929ca02ed00b3e423f6710d2ee7e0d5ebb06f3ecf368a8/tvl: HTTP 404",
    "http://127.0.0.1:8000/api/v1/risk-engine/decisions/2026-11-20-10:00 answered 200",
    "GET https://atlantic.api.herodotus.cloud/atlantic-query-by-dedup-id?dedupId=job-7 failed",
    "postgresql+psycopg2://zkp@db-primary-01.internal:5432/zkp refused the connection",
    "monkey=banana partition_key=2026-11-20-10:00 {statement} {out}",
])
def test_public_identifiers_stay_readable(text):
    assert public_text(text, environ={}) == text


def test_a_known_database_password_is_masked_in_every_spelling():
    url = "postgresql://zkp:pa%40ss%25word@db.internal:5432/zkp"
    message = ('FATAL: password authentication failed for user "zkp" (tried pa@ss%word); '
               f"url was {url}; escaped pa%40ss%25word")
    out = public_text(message, [url], environ={})
    assert "pa@ss%word" not in out and "pa%40ss%25word" not in out
    assert "postgresql://db.internal:5432/zkp" in out  # a known URL is shown as redact_url shows it


def test_overlapping_secrets_leave_no_fragment():
    env = {"ZKP_ATLANTIC_API_KEY": "abcdefgh-1234", "OTHER_TOKEN": "abcdefgh-1234-5678-tail"}
    out = public_text("keys abcdefgh-1234-5678-tail and abcdefgh-1234.", environ=env)
    assert out == "keys *** and ***."


def test_secret_settings_are_masked_even_when_not_named_like_secrets():
    env = {"ZKP_PROVER_COMMAND": "remote-prove --endpoint gpu7.internal {statement} {out}"}
    out = public_text("child failed: remote-prove --endpoint gpu7.internal {statement} {out} exited 3", environ=env)
    assert "gpu7.internal" not in out and out.endswith("exited 3")


def test_a_limit_cuts_after_masking():
    secret = "tok-" + "9" * 40
    out = public_text(f"{'x' * 30} {secret}", [secret], environ={}, limit=36)
    assert out == "x" * 30 + " ***" and public_text("a" * 50, limit=10) == "a" * 9 + "…"
    assert public_text(None) is None and public_text("") == ""


def test_redact_url_names_a_url_without_any_credential():
    assert redact_url("https://user:pw@node.example:8443/v2/AbCdEf0123456789AbCdEf?key=x") == (
        "https://node.example:8443/v2/***?***")
    assert redact_url("https://rpc.example/starknet/" + "k" * 32) == "https://rpc.example/starknet/***"
    assert redact_url("http://[::1") == "<unparseable url>"


def test_secret_environment_values_are_masked_wherever_they_appear():
    env = {"ZKP_ATLANTIC_API_KEY": "sk-atl-0123456789", "ZKP_STARKNET_RPC_URL": "https://rpc.example/v3/" + "k" * 32,
           "MY_SERVICE_TOKEN": "tok-abcdefgh", "HOME": "/root-home-dir"}
    text = ("prover said: key sk-atl-0123456789, node https://rpc.example/v3/" + "k" * 32
            + " token tok-abcdefgh in /root-home-dir")
    out = public_text(text, environ=env)
    assert "sk-atl-0123456789" not in out and "k" * 32 not in out and "tok-abcdefgh" not in out
    assert "https://rpc.example/v3/***" in out and "/root-home-dir" in out  # only secrets go


def test_prover_children_do_not_get_the_projects_credentials():
    env = {"DATABASE_URL": "postgresql://u:p@h/d", "ZKP_ATLANTIC_API_KEY": "k", "DAGSTER_PG_URL": "x",
           "TEST_DATABASE_URL": "t", "ZKP_INTEGRITY_RPC_URL": "https://n/k", "ZKP_STARKNET_RPC_URL": "s",
           "ZKP_STARKNET_RPC_BACKUP_URL": "b", "ZKP_PROVER_COMMAND": "prove {statement} {out}",
           "PATH": "/usr/bin", "MY_PROVER_TOKEN": "mine"}
    assert child_environment(env) == {"PATH": "/usr/bin", "MY_PROVER_TOKEN": "mine"}


def test_a_percent_encoded_database_password_reaches_alembic_intact():
    url = "postgresql+psycopg2://zkp:pa%40ss%25word@127.0.0.1:5432/zkp"
    assert alembic_config(url).get_main_option("sqlalchemy.url") == url


def test_dagster_shows_and_stores_the_names_of_secret_settings_not_their_values(tmp_path):
    script = textwrap.dedent("""
        from dagster import DagsterInstance
        from dagster._core.remote_representation.external_data import RepositorySnap
        from dagster._core.snap import JobSnap
        from dagster._serdes import serialize_value
        from zk_pipeline.definitions import defs

        repo = serialize_value(RepositorySnap.from_def(defs.get_repository_def()))
        job = serialize_value(JobSnap.from_job_def(defs.resolve_job_def("allocation_job")))
        print(repo + job)
    """)
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": "postgresql://zkp:DBPASSWORD123@db/zkp",
           "ZKP_METRICS_SOURCE": "starknet_rpc",
           "ZKP_STARKNET_RPC_URL": "https://starknet.example/v3/0123456789abcdef0123456789abcdefKEY",
           "ZKP_STARKNET_RPC_BACKUP_URL": "https://rpc.example/?apikey=BACKUPKEY999",
           "ZKP_PROVER_COMMAND": "remote-prove --token TOKENXYZ123 {statement} {out}",
           "DAGSTER_HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                         check=True).stdout
    assert "ZKP_STARKNET_RPC_URL" in out and "ZKP_PROVER_COMMAND" in out
    for secret in ("DBPASSWORD123", "0123456789abcdefKEY", "BACKUPKEY999", "TOKENXYZ123"):
        assert secret not in out, secret


def test_the_atlantic_key_does_not_follow_a_redirect_to_another_host():
    from zk_pipeline.provers.atlantic_client import AtlanticClient

    key, seen = "sk-atl-TEST-redirect-0123456789", []

    class Storage(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            seen.append(("storage", self.path, self.headers.get("api-key")))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    storage = HTTPServer(("127.0.0.1", 0), Storage)

    class Api(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            seen.append(("api", self.path, self.headers.get("api-key")))
            if self.path.startswith("/same"):  # a hop on the API's own host keeps the key
                self.send_response(302)
                self.send_header("Location", "/elsewhere")
            else:
                self.send_response(302)
                self.send_header("Location", f"http://localhost:{storage.server_port}/bucket/proof.json")
            self.end_headers()

        def log_message(self, *args):
            pass

    api = HTTPServer(("127.0.0.1", 0), Api)
    for server in (storage, api):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = AtlanticClient(api_key=key, base_url=f"http://127.0.0.1:{api.server_port}")
        resp = client._request("GET", f"http://127.0.0.1:{api.server_port}/same", time.monotonic() + 5)
        assert resp.status_code == 200
    finally:
        api.shutdown()
        storage.shutdown()
    assert seen == [("api", "/same", key), ("api", "/elsewhere", key), ("storage", "/bucket/proof.json", None)]
