"""``zkp run`` (what ``make run`` starts) end to end, as a user runs it: no DATABASE_URL, one Ctrl-C.

It starts its own embedded PostgreSQL, materializes the latest complete hour,
serves the Dagster UI and the API; then SIGINT — what Ctrl-C sends to the
foreground process, while the services sit in sessions of their own — must
stop every one of them and PostgreSQL, and exit 0.
"""

from __future__ import annotations

import pytest

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

from tests.conftest import ROOT


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _wait(predicate, seconds: float, what: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert proc.poll() is None, f"zkp run exited early while waiting for {what}:\n{log.read_text()[-4000:]}"
        assert time.monotonic() < deadline, f"no {what} after {seconds:g}s:\n{log.read_text()[-4000:]}"
        time.sleep(0.5)


def _ok(url: str, **kw) -> bool:
    try:
        return httpx.request(kw.pop("method", "GET"), url, timeout=5, **kw).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.slow
def test_zkp_run_serves_everything_and_one_ctrl_c_stops_it_all(tmp_path):
    data_dir = tmp_path / "data"
    ui, api = _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "DAGSTER_HOME", "DAGSTER_PG_URL", "DAGSTER_GRAPHQL_URL")}
    env.update(ZKP_DATA_DIR=str(data_dir), ZKP_DAGSTER_PORT=str(ui), ZKP_API_PORT=str(api), ZKP_PROVERS="builtin")
    log = tmp_path / "run.log"
    zkp = Path(sys.executable).parent / "zkp"
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(zkp), "run"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        _wait(lambda: _ok(f"http://127.0.0.1:{api}/api/v1/health"), 240, "API", proc, log)
        graphql = f"http://127.0.0.1:{ui}/graphql"
        query = {"query": "{ assetNodes { assetKey { path } assetMaterializations(limit: 1) { partition } } }"}
        _wait(lambda: _ok(graphql, method="POST", json=query), 120, "Dagster UI", proc, log)
        postgres = [p for p in psutil.process_iter(["cmdline"])
                    if str(data_dir / "pg") in " ".join(p.info["cmdline"] or [])]
        assert postgres, "no embedded PostgreSQL process for the data directory"

        # The first hour is there, with its proof, in the API and in Dagster's event log.
        decisions = httpx.get(f"http://127.0.0.1:{api}/api/v1/risk-engine/decisions", timeout=10).json()["items"]
        assert decisions and decisions[0]["proof_job_id"], decisions
        job = httpx.get(f"http://127.0.0.1:{api}/api/v1/proofs/{decisions[0]['proof_job_id']}", timeout=10).json()
        assert job["status"] == "verified" and job["source"] == "builtin"
        nodes = httpx.post(graphql, json=query, timeout=10).json()["data"]["assetNodes"]
        materialized = {tuple(n["assetKey"]["path"]) for n in nodes if n["assetMaterializations"]}
        assert ("allocation_decision",) in materialized and ("allocation_proof",) in materialized
        assert "Ctrl-C stops everything" in log.read_text()

        os.kill(proc.pid, signal.SIGINT)  # a terminal's Ctrl-C reaches only zkp's own process group
        assert proc.wait(timeout=120) == 0, log.read_text()[-4000:]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    text = log.read_text()
    assert "[zkp] PostgreSQL stopped" in text
    assert not _answers(ui) and not _answers(api)
    _, alive = psutil.wait_procs(postgres, timeout=10)
    assert not alive, f"PostgreSQL still running: {[p.pid for p in alive]}"
