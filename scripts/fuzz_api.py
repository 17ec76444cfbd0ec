"""``make fuzz``: Schemathesis over the API's whole OpenAPI, against a real API process and PostgreSQL.

Starts an embedded PostgreSQL in a temporary directory (or uses ``DATABASE_URL``),
migrates it, records one real decision with its verified proof (one in-process
materialization of the asset graph, so the id-taking routes have something to
find), points ``DAGSTER_HOME`` at a Dagster instance on the same database (as
``zkp run`` does: the orchestration routes read Dagster's run storage), configures a
throwaway admin token (sent with every request, so the admin endpoints are fuzzed too), serves
the API with uvicorn on 127.0.0.1 and runs ``st run`` with
``fuzz/schemathesis.toml`` (every check, fixed seed and budget). Exit status is
Schemathesis's: 0 when no check failed.

Usage: ``python scripts/fuzz_api.py [extra st run options]``
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # a script of the repository: its benchmarks package holds the seeding

from benchmarks.seed import scratch_database, seed_real_decision, start_api  # noqa: E402

CONFIG = ROOT / "fuzz" / "schemathesis.toml"


def main(argv: list[str]) -> int:
    with scratch_database() as url, tempfile.TemporaryDirectory(prefix="zkp-fuzz-dagster-") as home:
        print("[fuzz] seeding one decision with its proof…", flush=True)
        seed_real_decision(url)
        shutil.copy(ROOT / "deploy" / "dagster.yaml", Path(home) / "dagster.yaml")
        os.environ.update(DAGSTER_HOME=home, DAGSTER_PG_URL=url.replace("postgresql://", "postgresql+psycopg2://", 1))
        # The admin endpoints are fuzzed as an admin calls them: a throwaway token, its digest in the settings.
        token = secrets.token_urlsafe(32)
        os.environ["ZKP_ADMIN_TOKEN_SHA256"] = hashlib.sha256(token.encode()).hexdigest()
        try:
            api, base = start_api("api.main:app", url, seconds=60)
        except RuntimeError as exc:
            print(f"[fuzz] {exc}", file=sys.stderr)
            return 1
        try:
            st = Path(sys.executable).with_name("st")
            cmd = [str(st), "--config-file", str(CONFIG), "run", f"{base}/openapi.json",
                   "--phases", "examples,coverage,fuzzing", "--no-color", *argv]
            print("[fuzz] " + " ".join(cmd[1:]) + " -H 'Authorization: Bearer …'", flush=True)
            return subprocess.run([*cmd, "-H", f"Authorization: Bearer {token}"], cwd=ROOT).returncode
        finally:
            api.terminate()
            api.wait(10)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
