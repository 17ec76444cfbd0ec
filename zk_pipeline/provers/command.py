"""Backends that run a prover as a child process.

Every prover runs out of process (``process.py``): a crash or a hang then
costs one attempt, not the Dagster step or the API worker.

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
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from zk_pipeline.child_process import ChildTimeout, resolve_executable, run_child, tail
from zk_pipeline.provers.base import (
    ProofArtifact,
    ProverBackend,
    ProverError,
    ProverFailed,
    ProverTimeout,
    ProverUnavailable,
    Verification,
)
from zk_pipeline.risk.statement import Statement



#: What ``zkp prove --json`` prints, and so what a proof's ``details`` may hold.
REPORTED_FIELDS = ("proof_bytes", "prove_ms", "trace_rows", "trace_columns", "security_bits", "proof_hash",
                   "air_id", "statement_hash")

def reported_details(report: dict) -> dict:
    """Only the fields ``zkp prove --json`` reports are kept (they end up in ``proof_jobs.details``):
    whatever else a configured program prints is not ours to store."""
    return {k: report[k] for k in REPORTED_FIELDS if isinstance(report.get(k), (int, str))}


class CommandBackend(ProverBackend):
    name = "command"
    #: Whether the program reports through Dagster Pipes when a Dagster step launches it with a session
    #: (``zk_pipeline/prover_pipes.py``). A configured program may be anything (ssh to another machine):
    #: it runs without one, and the step records only its pid, exit and time.
    speaks_pipes = False

    def __init__(self, argv: Sequence[str], on_start: Callable[[int], None] | None = None,
                 timeout_s: float | None = None) -> None:
        if not argv:
            raise ValueError("a command backend needs a command")
        self.argv = list(argv)
        self.on_start = on_start
        self.timeout_s = timeout_s

    def check_available(self) -> None:
        exe = self.argv[0]
        if resolve_executable(exe) is None:
            where = "is not an executable file" if os.sep in exe else "not found on PATH"
            raise ProverUnavailable(f"{self.name}: {exe} {where}")

    def prove(self, statement: Statement, timeout_s: float) -> ProofArtifact:
        self.check_available()
        with tempfile.TemporaryDirectory(prefix="zkp-prove-") as tmp:
            st_path, out_path = Path(tmp) / "statement.json", Path(tmp) / "proof.bin"
            st_path.write_bytes(statement.canonical_bytes())
            argv = [a.replace("{statement}", str(st_path)).replace("{out}", str(out_path)) for a in self.argv]
            try:
                res = run_child(argv, timeout_s, self.on_start, speaks_pipes=self.speaks_pipes)
            except ChildTimeout:
                raise ProverTimeout(f"{self.name}: no proof after {timeout_s:g}s; prover killed") from None
            except OSError as exc:
                raise ProverUnavailable(f"{self.name}: cannot start {argv[0]}: {exc.strerror or exc}") from None
            if res.returncode != 0:
                raise ProverFailed(f"{self.name}: prover {res.describe_exit()}: {tail(res.stderr) or 'no output'}")
            if not out_path.exists() or out_path.stat().st_size == 0:
                raise ProverFailed(f"{self.name}: prover exited 0 but wrote no proof")
            proof = out_path.read_bytes()
        try:
            details = json.loads(res.stdout) if res.stdout.strip() else {}
        except json.JSONDecodeError:
            details = {}
        if not isinstance(details, dict):
            details = {}
        details = reported_details(details)
        return ProofArtifact(proof=proof, backend=self.name, prove_ms=int(details.get("prove_ms", res.elapsed_ms)),
                             details=details)

    def verify(self, statement: Statement, artifact: ProofArtifact, min_security_bits: int) -> Verification:
        from zk_pipeline.circuits.allocation import verify_statement

        res = verify_statement(statement, artifact.proof, min_security_bits=min_security_bits)
        return Verification(valid=bool(res.valid), reason=res.reason or "", security_bits=int(res.security_bits or 0),
                            verify_ms=int(res.verify_ms), verifier="local")


class BuiltinBackend(CommandBackend):
    """The project's own STARK prover (``zkp prove``), run in a child Python.

    Inside a Dagster step it reports what it proves and its timings through Dagster Pipes.
    It also proves batches (``prove_batch``), which a run over many hours uses first.
    """

    name = "builtin"
    speaks_pipes = True

    def __init__(self, on_start: Callable[[int], None] | None = None) -> None:
        super().__init__([sys.executable, "-m", "zk_pipeline.cli", "prove", "--input", "{statement}",
                          "--out", "{out}", "--json"], on_start=on_start)

    def prove_batch(self, statements: Sequence[Statement], timeout_s: float) -> list[ProofArtifact | ProverError]:
        """Prove ``statements`` in one child (``zkp prove --batch``): per statement its proof or its error.

        Starting a Python and loading the prover costs about as much as one proof, so a range of hours
        is proved a batch per child. The child has ``timeout_s`` per statement; a statement it did not
        report (it was killed, or crashed first) gets the error that stopped it.
        """
        self.check_available()
        with tempfile.TemporaryDirectory(prefix="zkp-batch-") as tmp:
            folder = Path(tmp)
            for i, statement in enumerate(statements):
                (folder / f"{i:06d}.json").write_bytes(statement.canonical_bytes())
            argv = self.batch_argv(folder)
            limit = timeout_s * max(1, len(statements))
            try:
                res = run_child(argv, limit, self.on_start, speaks_pipes=True)
            except ChildTimeout:
                return [ProverTimeout(f"{self.name}: batch of {len(statements)} not proved after {limit:g}s; "
                                      "prover killed")] * len(statements)
            except OSError as exc:
                return [ProverUnavailable(f"{self.name}: cannot start {argv[0]}: {exc.strerror or exc}")
                        ] * len(statements)
            lines = {}
            for text in res.stdout.splitlines():
                try:
                    line = json.loads(text)
                except json.JSONDecodeError:
                    continue
                if isinstance(line, dict) and isinstance(line.get("name"), str):
                    lines[line["name"]] = line
            stopped = ProverFailed(f"{self.name}: batch prover {res.describe_exit()} before this statement: "
                                   f"{tail(res.stderr) or 'no output'}")
            return [self._batch_result(folder, f"{i:06d}", lines.get(f"{i:06d}"), stopped)
                    for i in range(len(statements))]

    def batch_argv(self, folder: Path) -> list[str]:
        return [sys.executable, "-m", "zk_pipeline.cli", "prove", "--batch", str(folder)]

    def _batch_result(self, folder: Path, name: str, line: dict | None,
                      stopped: ProverError) -> ProofArtifact | ProverError:
        if line is None:
            return stopped
        if "error" in line:
            return ProverFailed(f"{self.name}: {line['error']}")
        proof_path = folder / f"{name}.proof"
        if not proof_path.exists() or proof_path.stat().st_size == 0:
            return ProverFailed(f"{self.name}: batch prover reported a proof but wrote none")
        return ProofArtifact(proof=proof_path.read_bytes(), backend=self.name,
                             prove_ms=int(line.get("prove_ms") or 0), details=reported_details(line))
