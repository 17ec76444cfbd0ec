"""The fault suite: whole processes killed, the database stopped, bad files; run by ``make faults``.

These scenarios start a Dagster daemon or a PostgreSQL server of their own and
take minutes, so ``make test`` reports them as skipped (never as passed) unless
``ZKP_FAULTS=1`` is set, which ``make faults`` does.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.conftest import ROOT

HERE = os.path.dirname(__file__)


def pytest_collection_modifyitems(config, items):
    if os.environ.get("ZKP_FAULTS") == "1":
        return
    skip = pytest.mark.skip(reason="fault suite: run it with `make faults`")
    for item in items:
        if str(item.fspath).startswith(HERE):
            item.add_marker(skip)


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
