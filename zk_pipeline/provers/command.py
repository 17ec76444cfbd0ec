"""Backends that run a prover as a child process.

Every prover runs out of process: a crash or a hang then costs one attempt,
not the Dagster step or the API worker, and a timeout can really stop it
(the child gets its own session, and the whole process group is killed).

``CommandBackend`` runs any program that follows a small contract: it reads
the statement JSON from the file given for ``{statement}``, writes proof bytes
to ``{out}``, exits 0 on success. Its proofs are checked by the built-in
verifier, so the program must emit the built-in proof format (for instance
``zkp prove`` on a bigger machine behind ssh). ``BuiltinBackend`` is that
contract applied to this project's own prover.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from zk_pipeline.provers.base import (
    ProofArtifact,
    ProverBackend,
    ProverFailed,
    ProverTimeout,
    ProverUnavailable,
    Verification,
)
from zk_pipeline.risk.statement import Statement

STDERR_TAIL = 600
PR_SET_PDEATHSIG = 1


def _child_setup() -> None:
    """New session (so a timeout can kill the whole tree) that dies with its parent.

    ``PR_SET_PDEATHSIG`` (Linux) makes the kernel kill the prover when the
    process that started it dies — a Dagster run worker stopped mid-proof
    leaves no orphan prover burning a core.
    """
    os.setsid()
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the session kill on timeout still applies
        pass


def _tail(text: str) -> str:
    text = text.strip()
    return text if len(text) <= STDERR_TAIL else "…" + text[-STDERR_TAIL:]


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.communicate()


class CommandBackend(ProverBackend):
    name = "command"

    def __init__(self, argv: Sequence[str], on_start: Callable[[int], None] | None = None,
                 timeout_s: float | None = None) -> None:
        if not argv:
            raise ValueError("a command backend needs a command")
        self.argv = list(argv)
        self.on_start = on_start
        self.timeout_s = timeout_s

    def check_available(self) -> None:
        exe = self.argv[0]
        if os.sep in exe:
            if not os.access(exe, os.X_OK):
                raise ProverUnavailable(f"{self.name}: {exe} is not an executable file")
        elif not any(os.access(os.path.join(d, exe), os.X_OK) for d in os.environ.get("PATH", "").split(os.pathsep)):
            raise ProverUnavailable(f"{self.name}: {exe} not found on PATH")

    def prove(self, statement: Statement, timeout_s: float) -> ProofArtifact:
        self.check_available()
        with tempfile.TemporaryDirectory(prefix="zkp-prove-") as tmp:
            st_path, out_path = Path(tmp) / "statement.json", Path(tmp) / "proof.bin"
            st_path.write_bytes(statement.canonical_bytes())
            argv = [a.replace("{statement}", str(st_path)).replace("{out}", str(out_path)) for a in self.argv]
            started = time.monotonic()
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    preexec_fn=_child_setup)
            try:
                if self.on_start:
                    self.on_start(proc.pid)
                stdout, stderr = proc.communicate(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                raise ProverTimeout(f"{self.name}: no proof after {timeout_s:g}s; prover killed") from None
            except BaseException:
                _kill_group(proc)  # interrupted (run cancelled, worker stopping): take the prover down too
                raise
            elapsed_ms = int((time.monotonic() - started) * 1000)
            if proc.returncode != 0:
                how = (f"killed by signal {-proc.returncode}" if proc.returncode < 0
                       else f"exited with status {proc.returncode}")
                raise ProverFailed(f"{self.name}: prover {how}: {_tail(stderr) or 'no output'}")
            if not out_path.exists() or out_path.stat().st_size == 0:
                raise ProverFailed(f"{self.name}: prover exited 0 but wrote no proof")
            proof = out_path.read_bytes()
        details = {}
        try:
            details = json.loads(stdout) if stdout.strip() else {}
        except json.JSONDecodeError:
            details = {}
        return ProofArtifact(proof=proof, backend=self.name, prove_ms=int(details.get("prove_ms", elapsed_ms)),
                             details=details if isinstance(details, dict) else {})

    def verify(self, statement: Statement, artifact: ProofArtifact, min_security_bits: int) -> Verification:
        from zk_pipeline.stark import verify_statement

        res = verify_statement(statement, artifact.proof, min_security_bits=min_security_bits)
        return Verification(valid=bool(res.valid), reason=res.reason or "", security_bits=int(res.security_bits or 0),
                            verify_ms=int(res.verify_ms), verifier="local")


class BuiltinBackend(CommandBackend):
    """The project's own STARK prover (``zkp prove``), run in a child Python."""

    name = "builtin"

    def __init__(self, on_start: Callable[[int], None] | None = None) -> None:
        super().__init__([sys.executable, "-m", "zk_pipeline.cli", "prove", "--input", "{statement}",
                          "--out", "{out}", "--json"], on_start=on_start)
