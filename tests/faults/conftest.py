"""The fault suite: whole processes killed, the database stopped, bad files; run by ``make faults``.

These scenarios start a Dagster daemon or a PostgreSQL server of their own and
take minutes, so the default collection leaves this folder out (``norecursedirs``
in ``pyproject.toml``: not collected, so neither run nor reported as skipped);
``make faults`` names it explicitly.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager


from tests.conftest import ROOT



@contextmanager
def daemon(env: dict[str, str], log_path) -> Iterator[subprocess.Popen]:
    """``dagster-daemon run`` on the repository's workspace, in a process group of its own."""
    with open(log_path, "w") as log:
        proc = subprocess.Popen([str(ROOT / ".venv" / "bin" / "dagster-daemon"), "run", "-w", "workspace.yaml"],
                                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            yield proc
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
