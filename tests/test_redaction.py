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
from zk_pipeline.redaction import child_environment, public_text, redact_url_password


@pytest.mark.parametrize("url, secret", [
    ("postgresql://zkp:hunter2@db.internal:5432/zkp", "hunter2"),
    ("postgresql://:onlypass@127.0.0.1/db", "onlypass"),
    ("postgresql://u@127.0.0.1/db?password=hunter22", "hunter22"),
    ("postgresql://u@127.0.0.1/db?sslmode=require&password=hunter23", "hunter23"),
    ("https://user:pa%40ss@host/v3/x", "pa%40ss"),
    ("connect failed: host=h dbname=d user=u password=hunter24 sslmode=x", "hunter24"),
])
def test_every_password_form_is_masked(url, secret):
    masked = redact_url_password(url)
    assert secret not in masked and "***" in masked


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
    from zk_pipeline.provers.atlantic import AtlanticBackend

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
        b = AtlanticBackend(api_key=key, base_url=f"http://127.0.0.1:{api.server_port}")
        resp = b._request("GET", f"http://127.0.0.1:{api.server_port}/same", time.monotonic() + 5)
        assert resp.status_code == 200
    finally:
        api.shutdown()
        storage.shutdown()
    assert seen == [("api", "/same", key), ("api", "/elsewhere", key), ("storage", "/bucket/proof.json", None)]
