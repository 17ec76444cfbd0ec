"""Running a prover (or one of its tools) as a child process that can really be stopped.

Every prover runs out of process: a crash or a hang then costs one attempt,
not the Dagster step or the API worker. The child gets a session of its own
(a timeout kills its whole process group) and, on Linux, dies with its parent
(``PR_SET_PDEATHSIG``), so a run worker stopped mid-proof leaves no orphan
prover burning a core. The Cairo tools (``cairo-compile``, ``cairo-run``) run the same way.

A caller can watch every child started under it (``watching_children``): the
watcher adds to the child's environment before it starts and learns its pid,
how it ended and how long it ran. Inside a Dagster step that watcher is
``prover_pipes``: it opens a Dagster Pipes session for a child that speaks
Pipes and records every child in the run's event log. With no watcher (the
CLI, the API's own checks, tests) a child runs exactly as before.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from zk_pipeline.redaction import child_environment

STDERR_TAIL = 600
PR_SET_PDEATHSIG = 1
#: Variables of a Dagster Pipes session: a child gets them only from the session its own watcher opened.
PIPES_VARIABLE_PREFIX = "DAGSTER_PIPES_"


class ChildTimeout(RuntimeError):
    """The child ran past its timeout; its process group has been killed."""


@dataclass(frozen=True)
class ChildResult:
    returncode: int
    stdout: str
    stderr: str
    elapsed_ms: int

    def describe_exit(self) -> str:
        return describe_exit(self.returncode)


def describe_exit(returncode: int) -> str:
    return f"killed by signal {-returncode}" if returncode < 0 else f"exited with status {returncode}"


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


@dataclass
class WatchedChild:
    """One child as its watcher sees it: what it adds to the environment, then how the child ended."""

    argv: tuple[str, ...]
    #: The child can report through Dagster Pipes (the built-in prover); Cairo and Stone tools cannot.
    speaks_pipes: bool
    env: dict[str, str] = field(default_factory=dict)
    pid: int | None = None
    outcome: str = "not started"
    elapsed_ms: int = 0

    @property
    def command(self) -> str:
        """The program's name for a log line: no directories, no arguments (they name temp files), but
        the module and sub-command of ``python -m module command``."""
        words = [os.path.basename(self.argv[0])] if self.argv else []
        if self.argv[1:2] == ("-m",) and len(self.argv) > 2:
            words += ["-m", self.argv[2], *[a for a in self.argv[3:4] if a.isidentifier()]]
        return " ".join(words)


#: What watches a child: called with it before it starts, exited when it has ended (or could not start).
ChildWatcher = Callable[[WatchedChild], AbstractContextManager[object]]

_WATCHER: ContextVar[ChildWatcher | None] = ContextVar("zkp_child_watcher", default=None)


@contextmanager
def watching_children(watcher: ChildWatcher) -> Iterator[None]:
    """Every ``run_child`` in this block (same thread or task) goes through ``watcher``."""
    token = _WATCHER.set(watcher)
    try:
        yield
    finally:
        _WATCHER.reset(token)


def run_child(argv: Sequence[str], timeout_s: float, on_start: Callable[[int], None] | None = None, *,
              speaks_pipes: bool = False) -> ChildResult:
    """Run ``argv`` to completion (any exit code) or kill it at ``timeout_s``.

    Raises ``OSError`` when the program cannot be started and ``ChildTimeout``
    after a kill; an interruption of the caller (run cancelled) also kills the
    child before propagating. ``speaks_pipes`` tells a watcher the child can
    report through Dagster Pipes.
    """
    child = WatchedChild(tuple(argv), speaks_pipes)
    watcher = _WATCHER.get()
    if watcher is None:
        return _run(child, timeout_s, on_start)
    with watcher(child):
        return _run(child, timeout_s, on_start)


def _environment(child: WatchedChild) -> dict[str, str]:
    env = {k: v for k, v in child_environment().items() if not k.startswith(PIPES_VARIABLE_PREFIX)}
    return {**env, **child.env}


def _run(child: WatchedChild, timeout_s: float, on_start: Callable[[int], None] | None) -> ChildResult:
    started = time.monotonic()

    def ended(outcome: str) -> int:
        child.outcome, child.elapsed_ms = outcome, int((time.monotonic() - started) * 1000)
        return child.elapsed_ms

    try:
        proc = subprocess.Popen(list(child.argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                preexec_fn=_child_setup, env=_environment(child))
    except OSError as exc:
        ended(f"cannot start: {exc.strerror or exc}")
        raise
    child.pid = proc.pid
    try:
        if on_start:
            on_start(proc.pid)
        stdout, stderr = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        ended(f"killed after its {timeout_s:g}s timeout")
        raise ChildTimeout(f"no result after {timeout_s:g}s; killed") from None
    except BaseException as exc:
        _kill_group(proc)
        ended(f"killed: interrupted by {type(exc).__name__}")
        raise
    return ChildResult(proc.returncode, stdout, stderr, ended(describe_exit(proc.returncode)))


def resolve_executable(command: str) -> str | None:
    """A path as given if it is an executable file, a bare name looked up on PATH; None if neither."""
    if os.sep in command:
        return command if os.path.isfile(command) and os.access(command, os.X_OK) else None
    return shutil.which(command)
