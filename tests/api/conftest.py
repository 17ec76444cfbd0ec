"""Fixtures of the API tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn

from api.main import create_app


@pytest.fixture()
def live_server(db_url):
    """uvicorn on a socket bound here (no race for the port); yields ``(host, port)``."""
    with serve(db_url) as address:
        yield address


@contextmanager
def serve(db_url: str):
    """``create_app(db_url)`` served by uvicorn (startup included) on 127.0.0.1; yields ``(host, port)``."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(db_url), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if server.started:
                break
            thread.join(0.05)
        assert server.started, "uvicorn did not start"
        yield sock.getsockname()
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
    assert not thread.is_alive()


@contextmanager
def api_process(env: dict[str, str], log_path: Path):
    """A real API process (``uvicorn api.main:app``) on a free port; yields ``(process, base_url)`` once it
    answers ``/api/v1/health``; killed (SIGKILL) on exit if still alive."""
    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    root = Path(__file__).resolve().parents[2]
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1",
                                 "--port", str(port), "--log-level", "warning"],
                                cwd=root, env={**os.environ, **env}, stdout=log_file, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/api/v1/health", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.1)
        yield proc, base
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


class SlowProver:
    """A ``command`` prover that records its pid and sleeps 120 s: a proof that is always "at work"."""

    def __init__(self, tmp: Path):
        self.pidfile = tmp / "prover.pid"
        self.script = tmp / "slow-prover"
        self.script.write_text(f"#!/bin/sh\necho $$ > {self.pidfile}\nexec sleep 120\n")
        self.script.chmod(0o755)
        self.env = {"ZKP_PROVERS": "command", "ZKP_PROVER_COMMAND": f"{self.script} {{statement}} {{out}}"}

    def pid(self) -> int | None:
        text = self.pidfile.read_text().strip() if self.pidfile.exists() else ""
        return int(text) if text else None

    def wait_started(self, log_path: Path, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while self.pid() is None:
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.05)

    def kill(self) -> None:
        """It dies with its API process (PDEATHSIG); make sure of it."""
        if self.pid() is not None:
            try:
                os.kill(self.pid(), 9)
            except ProcessLookupError:
                pass
