"""Running a prover (or one of its tools) as a child process that can really be stopped.

Every prover runs out of process: a crash or a hang then costs one attempt,
not the Dagster step or the API worker. The child gets a session of its own
(a timeout kills its whole process group) and, on Linux, dies with its parent
(``PR_SET_PDEATHSIG``), so a run worker stopped mid-proof leaves no orphan
prover burning a core. The Cairo tools (``cairo-compile``, ``cairo-run``) run the same way.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from zk_pipeline.redaction import child_environment

STDERR_TAIL = 600
PR_SET_PDEATHSIG = 1


class ChildTimeout(RuntimeError):
    """The child ran past its timeout; its process group has been killed."""


@dataclass(frozen=True)
class ChildResult:
    returncode: int
    stdout: str
    stderr: str
    elapsed_ms: int

    def describe_exit(self) -> str:
        return (f"killed by signal {-self.returncode}" if self.returncode < 0
                else f"exited with status {self.returncode}")


def tail(text: str) -> str:
    text = text.strip()
    return text if len(text) <= STDERR_TAIL else "…" + text[-STDERR_TAIL:]


def _child_setup() -> None:
    os.setsid()
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the group kill on timeout still applies
        pass


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.communicate()


def run_child(argv: Sequence[str], timeout_s: float, on_start: Callable[[int], None] | None = None) -> ChildResult:
    """Run ``argv`` to completion (any exit code) or kill it at ``timeout_s``.

    Raises ``OSError`` when the program cannot be started and ``ChildTimeout``
    after a kill; an interruption of the caller (run cancelled) also kills the
    child before propagating.
    """
    started = time.monotonic()
    proc = subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_child_setup, env=child_environment())
    try:
        if on_start:
            on_start(proc.pid)
        stdout, stderr = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise ChildTimeout(f"no result after {timeout_s:g}s; killed") from None
    except BaseException:
        _kill_group(proc)
        raise
    return ChildResult(proc.returncode, stdout, stderr, int((time.monotonic() - started) * 1000))


def resolve_executable(command: str) -> str | None:
    """A path as given if it is an executable file, a bare name looked up on PATH; None if neither."""
    if os.sep in command:
        return command if os.path.isfile(command) and os.access(command, os.X_OK) else None
    return shutil.which(command)
