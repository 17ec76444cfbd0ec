"""The fault suite: whole processes killed, the database stopped, bad files; run by ``make faults``.

These scenarios start a Dagster daemon or a PostgreSQL server of their own and
take minutes, so the default collection leaves this folder out (``norecursedirs``
in ``pyproject.toml``: not collected, so neither run nor reported as skipped);
``make faults`` names it explicitly.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager


from tests.conftest import ROOT
from tests.helpers import stop_process_group



@contextmanager
def daemon(env: dict[str, str], log_path) -> Iterator[subprocess.Popen]:
    """``dagster-daemon run`` on the repository's workspace, in a process group of its own."""
    with open(log_path, "w") as log:
        proc = subprocess.Popen([str(ROOT / ".venv" / "bin" / "dagster-daemon"), "run", "-w", "workspace.yaml"],
                                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            yield proc
        finally:
            stop_process_group(proc, 30)
