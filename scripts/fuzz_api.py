"""``make fuzz``: Schemathesis over the API's whole OpenAPI, against a real API process and PostgreSQL.

Starts an embedded PostgreSQL in a temporary directory (or uses ``DATABASE_URL``),
migrates it, records one real decision with its verified proof (one in-process
materialization of the asset graph, so the id-taking routes have something to
find), serves the API with uvicorn on 127.0.0.1 and runs ``st run`` with
``fuzz/schemathesis.toml`` (every check, fixed seed and budget). Exit status is
Schemathesis's: 0 when no check failed.

Usage: ``python scripts/fuzz_api.py [extra st run options]``
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # a script of the repository: its benchmarks package holds the seeding

from benchmarks.seed import seed_real_decision  # noqa: E402
CONFIG = ROOT / "fuzz" / "schemathesis.toml"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(argv: list[str]) -> int:
    from zk_pipeline.db.urls import with_psycopg2

    server = None
    with tempfile.TemporaryDirectory(prefix="zkp-fuzz-") as tmp:
        url = os.environ.get("DATABASE_URL")
        if not url:
            from zk_pipeline.db import embedded

            server, url = embedded.start(Path(tmp) / "pg", cleanup="delete")
        url = with_psycopg2(url)
        api = None
        try:
            print("[fuzz] seeding one decision with its proof…", flush=True)
            seed_real_decision(url)
            port = _free_port()
            api = subprocess.Popen([sys.executable, "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1",
                                    "--port", str(port), "--log-level", "warning"], cwd=ROOT,
                                   env={**os.environ, "DATABASE_URL": url})
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{base}/api/v1/health", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if api.poll() is not None or time.monotonic() > deadline:
                    print("[fuzz] the API did not start", file=sys.stderr)
                    return 1
                time.sleep(0.2)
            st = Path(sys.executable).with_name("st")
            cmd = [str(st), "--config-file", str(CONFIG), "run", f"{base}/openapi.json",
                   "--phases", "examples,coverage,fuzzing", "--no-color", *argv]
            print("[fuzz] " + " ".join(cmd[1:]), flush=True)
            return subprocess.run(cmd, cwd=ROOT).returncode
        finally:
            if api is not None and api.poll() is None:
                api.terminate()
                api.wait(10)
            if server is not None:
                server.cleanup()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
