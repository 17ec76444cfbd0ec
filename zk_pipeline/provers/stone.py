"""Stone: prove the Cairo model program with StarkWare's ``cpu_air_prover``, check with ``cpu_air_verifier``.

Unlike the built-in prover, a Stone proof is what Herodotus Integrity verifies
on Starknet: its fact (``facts/stone/``) can be registered and looked up by
contracts. The flow, every step a child process under the attempt's deadline
(own session, killed as a group on timeout, dies with its parent)::

    cairo-compile --proof_mode allocation.cairo        (cached by source hash)
    cairo-run --proof_mode --layout small ...          (AIR public/private input, trace, memory;
                                                        cached by program, input and cairo-run)
    cpu_air_prover --parameter_file ... --out_file proof.json
    cpu_air_verifier --in_file proof.json              (in verify)

Nothing here is installed with the project; all of it is found by
configuration (``from_env``) and ``check_available`` names what is missing:

``ZKP_STONE_CAIRO_RUN``
    ``cairo-run`` from cairo-lang 0.14, which needs Python 3.10 (see
    ``scripts/setup_cairo_venv.sh``); default ``<repo>/.cairo-venv/bin/cairo-run``
    when it exists, else ``cairo-run`` on PATH.
``ZKP_STONE_CAIRO_COMPILE``
    default: the ``cairo-compile`` next to this Python, on PATH, or next to cairo-run.
``ZKP_STONE_PROVER`` / ``ZKP_STONE_VERIFIER``
    default: the ones ``make stone`` installs (``<repo>/.data/stone/bin/``)
    when they exist, else ``cpu_air_prover`` / ``cpu_air_verifier`` on PATH.
``ZKP_STONE_PARAMS`` / ``ZKP_STONE_PROVER_CONFIG``
    default: the files shipped in ``zk_pipeline/cairo/``.
``ZKP_STONE_VERSION``
    ``stone6`` (default: what the pinned Stone commit writes; its verifier
    rejects Integrity's stone5 examples) or ``stone5``: names the verifier
    configuration in Integrity's verification hash.
``ZKP_STONE_TIMEOUT_S``
    per-attempt timeout for this backend (else the policy's).

Parameters (``docs/stone.md`` has the measurements behind them). The shipped
``cpu_air_params.json`` asks for ``n_queries = 37``, ``log_n_cosets = 2``
(blowup 4) and 22 proof-of-work bits: 37 * 2 + 22 = 96 conjectured bits, the
pipeline's minimum (grinding costs ~2**bits keccak hashes, seconds at 24 bits,
while Integrity accepts 20 to 50); commitments are keccak256 masked to 160 bits on every
Merkle layer (``n_verifier_friendly_commitment_layers = 0``), which Integrity
verifies as hasher ``keccak_160_lsb``; Poseidon on every layer is what kept
the prover busy for most of 46 minutes on 2**17 steps. FRI must reduce the trace (16 rows per step) to the last layer:
``log2(last_layer_degree_bound) + sum(fri_step_list) = log2(n_steps) + 4``, so
the step list is recomputed for the actual ``n_steps`` of each run (first
step 0, then steps of 4, the remainder last), keeping the last layer bound and
every security setting of the file.

Verification is local and has three parts, all required: ``cpu_air_verifier``
accepts the proof (exit 0); the proof's public output equals
``expected_output(statement)`` (so it proves *this* statement's result); and
its program hash (Integrity's strict carving) equals the compiled program's
(so it proves *this* program). Security below the minimum is a rejection too.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from zk_pipeline import cairo
from zk_pipeline.child_process import resolve_executable
from zk_pipeline.facts import stone as stone_facts
from zk_pipeline.provers.base import (
    ProofArtifact,
    ProverBackend,
    ProverFailed,
    ProverTimeout,
    ProverUnavailable,
    Verification,
)
from zk_pipeline.risk.statement import Statement
from zk_pipeline.settings import get_settings, load_settings

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
MEMORY_VERIFICATION = "strict"
MAX_FRI_STEP = 4
DEFAULT_VERIFY_TIMEOUT_S = 600.0


def fri_step_list(n_steps: int, last_layer_degree_bound: int, rows_per_step_log2: int = 4) -> list[int]:
    """FRI steps satisfying ``log2(last_layer) + sum(steps) = log2(n_steps) + 4``: ``[0, 4, ..., 4, rest]``."""
    if n_steps < 1 or n_steps & (n_steps - 1) or last_layer_degree_bound < 1 or \
            last_layer_degree_bound & (last_layer_degree_bound - 1):
        raise ValueError("n_steps and last_layer_degree_bound must be powers of two")
    total = (n_steps.bit_length() - 1) + rows_per_step_log2 - (last_layer_degree_bound.bit_length() - 1)
    if total < 1:
        raise ValueError(f"last_layer_degree_bound {last_layer_degree_bound} is too big for {n_steps} steps")
    steps = [0] + [MAX_FRI_STEP] * (total // MAX_FRI_STEP)
    if total % MAX_FRI_STEP:
        steps.append(total % MAX_FRI_STEP)
    return steps


def params_for(n_steps: int, base: dict[str, Any]) -> dict[str, Any]:
    """The parameter file for a run of ``n_steps``: ``base`` with its FRI step list recomputed."""
    params = json.loads(json.dumps(base))
    fri = params["stark"]["fri"]
    fri["fri_step_list"] = fri_step_list(n_steps, int(fri["last_layer_degree_bound"]))
    return params


#: Above this many steps the prover recomputes the low-degree extension where FRI queries it instead of keeping
#: it: kept, it took the standard statement (2**16 steps) from 2.7 to 5.6 GB and saved a fifth of the time.
FULL_LDE_MAX_STEPS = 2**16


def prover_config_for(n_steps: int, base: dict[str, Any]) -> dict[str, Any]:
    """The prover config for a run of ``n_steps``: ``base``, without the stored LDE on runs too big for it."""
    config = json.loads(json.dumps(base))
    if n_steps > FULL_LDE_MAX_STEPS:
        config.setdefault("cached_lde_config", {})["store_full_lde"] = False
    return config


def conjectured_security_bits(params: dict[str, Any]) -> int:
    fri = params["stark"]["fri"]
    return int(fri["n_queries"]) * int(params["stark"]["log_n_cosets"]) + int(fri["proof_of_work_bits"])


def _default_cairo_run() -> str:
    venv = REPO_ROOT / ".cairo-venv" / "bin" / "cairo-run"
    return str(venv) if venv.exists() else "cairo-run"


#: Where ``make stone`` (scripts/build_stone.sh) installs the binaries.
STONE_INSTALL_DIR = REPO_ROOT / ".data" / "stone" / "bin"
DEFAULT_STONE_VERSION = "stone6"


def default_stone_tool(name: str) -> str:
    """``name`` as ``make stone`` installed it, else the bare name (looked up on PATH)."""
    installed = STONE_INSTALL_DIR / name
    return str(installed) if os.access(installed, os.X_OK) else name


class StoneBackend(ProverBackend):
    name = "stone"

    def __init__(self, *, cairo_run: str | None = None, cpu_air_prover: str | None = None,
                 cpu_air_verifier: str | None = None, cairo_compile: str | None = None,
                 params_file: str | Path = cairo.DEFAULT_PARAMS_FILE,
                 prover_config_file: str | Path = cairo.DEFAULT_PROVER_CONFIG_FILE,
                 stone_version: str | None = DEFAULT_STONE_VERSION, cache_dir: str | Path | None = None,
                 timeout_s: float | None = None, verify_timeout_s: float = DEFAULT_VERIFY_TIMEOUT_S,
                 generate_annotations: bool = True, on_start: Callable[[int], None] | None = None) -> None:
        self.cairo_run = cairo_run or _default_cairo_run()
        self.cpu_air_prover = cpu_air_prover or default_stone_tool("cpu_air_prover")
        self.cpu_air_verifier = cpu_air_verifier or default_stone_tool("cpu_air_verifier")
        self.cairo_compile = cairo_compile
        self.params_file = Path(params_file)
        self.prover_config_file = Path(prover_config_file)
        if stone_version is not None and stone_version not in stone_facts.STONE_VERSIONS:
            raise ValueError(f"stone_version must be one of {stone_facts.STONE_VERSIONS}")
        self.stone_version = stone_version
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.timeout_s = timeout_s
        self.verify_timeout_s = verify_timeout_s
        #: Integrity's proof serializer needs the annotations, so they are asked for by default.
        self.generate_annotations = generate_annotations
        self.on_start = on_start

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, on_start: Callable[[int], None] | None = None
                 ) -> "StoneBackend":
        """The backend the settings describe (``env``: these variables instead of the process's)."""
        s = get_settings() if env is None else load_settings(env)
        return cls(
            cairo_run=s.stone.cairo_run,
            cairo_compile=s.stone.cairo_compile,
            cpu_air_prover=s.stone.prover,
            cpu_air_verifier=s.stone.verifier,
            params_file=s.stone.params or cairo.DEFAULT_PARAMS_FILE,
            prover_config_file=s.stone.prover_config or cairo.DEFAULT_PROVER_CONFIG_FILE,
            stone_version=s.stone.version or DEFAULT_STONE_VERSION,
            cache_dir=s.cairo.cache,
            timeout_s=s.stone.timeout_s,
            on_start=on_start,
        )

    # ------------------------------------------------------------------ configuration

    def _cairo_compile(self) -> str | None:
        return cairo.locate_cairo_compile(self.cairo_compile, self.cairo_run)

    def check_available(self) -> None:
        missing = []
        for what, command in (("cairo-run", self.cairo_run), ("cpu_air_prover", self.cpu_air_prover),
                              ("cpu_air_verifier", self.cpu_air_verifier)):
            if resolve_executable(command) is None:
                where = "is not an executable file" if os.sep in command else "not found on PATH"
                missing.append(f"{what} ({command} {where})")
        if self._cairo_compile() is None:
            missing.append(f"cairo-compile ({self.cairo_compile or 'cairo-compile'} not found)")
        for what, path in (("parameter file", self.params_file), ("prover config file", self.prover_config_file)):
            if not path.is_file():
                missing.append(f"{what} ({path} does not exist)")
        if missing:
            raise ProverUnavailable(f"{self.name}: missing " + "; ".join(missing))

    def compiled(self, timeout_s: float = 180) -> cairo.CompiledProgram:
        try:
            return cairo.compile_program(proof_mode=True, cairo_compile=self._cairo_compile(),
                                         cache_dir=self.cache_dir, timeout_s=timeout_s)
        except cairo.CairoToolTimeout as exc:
            raise ProverTimeout(f"{self.name}: {exc}") from None
        except cairo.CairoToolError as exc:
            raise ProverFailed(f"{self.name}: {exc}") from None

    # ------------------------------------------------------------------ proving

    def prove(self, statement: Statement, timeout_s: float) -> ProofArtifact:
        self.check_available()
        deadline = time.monotonic() + timeout_s

        def remaining(step: str) -> float:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ProverTimeout(f"{self.name}: no proof after {timeout_s:g}s (deadline passed before {step})")
            return left

        started = time.monotonic()
        expected = _expected_or_fail(self.name, statement)
        compiled = self.compiled(remaining("cairo-compile"))
        with tempfile.TemporaryDirectory(prefix="zkp-stone-") as tmp:
            work = Path(tmp)
            try:
                run = cairo.run_program(compiled, statement, work, cairo_run=self.cairo_run,
                                        timeout_s=remaining("cairo-run"), on_start=self.on_start,
                                        cache_dir=self.cache_dir or cairo.default_cache_dir())
            except cairo.CairoToolTimeout:
                raise ProverTimeout(f"{self.name}: cairo-run still running after {timeout_s:g}s; killed") from None
            except cairo.CairoToolError as exc:
                raise ProverFailed(f"{self.name}: {exc}") from None
            if run.output != expected:
                # The program and the Python model disagree: proving would only produce a proof of the wrong result.
                raise ProverFailed(f"{self.name}: the Cairo run's output differs from the model's "
                                   f"({_first_difference(run.output, expected)})")
            try:
                n_steps = int(json.loads(run.public_input.read_text())["n_steps"])
                params = params_for(n_steps, json.loads(self.params_file.read_text()))
            except (ValueError, KeyError, TypeError) as exc:  # JSONDecodeError is a ValueError
                raise ProverFailed(f"{self.name}: cannot size the parameters ({self.params_file}) for this run: "
                                   f"{exc!r}") from None
            params_path = work / "cpu_air_params.json"
            params_path.write_text(json.dumps(params, indent=1))
            config_path = work / "cpu_air_prover_config.json"
            try:
                config_path.write_text(json.dumps(prover_config_for(
                    n_steps, json.loads(self.prover_config_file.read_text())), indent=1))
            except (ValueError, TypeError, AttributeError) as exc:
                raise ProverFailed(f"{self.name}: unusable prover config {self.prover_config_file}: {exc!r}") from None
            proof_path = work / "proof.json"
            argv = [self.cpu_air_prover, f"--out_file={proof_path}", f"--private_input_file={run.private_input}",
                    f"--public_input_file={run.public_input}", f"--prover_config_file={config_path}",
                    f"--parameter_file={params_path}"]
            if self.generate_annotations:
                argv.append("--generate_annotations")
            prover_started = time.monotonic()
            try:
                cairo.run_tool(argv, remaining("cpu_air_prover"), "cpu_air_prover", on_start=self.on_start)
            except cairo.CairoToolTimeout:
                raise ProverTimeout(f"{self.name}: cpu_air_prover still running after {timeout_s:g}s; "
                                    "killed") from None
            except cairo.CairoToolError as exc:
                raise ProverFailed(f"{self.name}: {exc}") from None
            prover_s = time.monotonic() - prover_started
            if not proof_path.exists() or proof_path.stat().st_size == 0:
                raise ProverFailed(f"{self.name}: cpu_air_prover exited 0 but wrote no proof")
            proof = proof_path.read_bytes()
        try:
            facts = stone_facts.compute_facts(stone_facts.parse_stone_proof(json.loads(proof)), MEMORY_VERIFICATION,
                                              self.stone_version)
        except (ValueError, stone_facts.StoneProofError) as exc:
            raise ProverFailed(f"{self.name}: cpu_air_prover wrote an unusable proof: {exc}") from None
        fact = facts.to_json()
        details = {
            "layout": facts.layout, "n_steps": facts.n_steps, "memory_verification": MEMORY_VERIFICATION,
            "program_hash": fact["program_hash"], "output_hash": fact["output_hash"], "fact_hash": fact["fact_hash"],
            "security_bits": facts.security_bits, "stone_version": self.stone_version,
            "verification_hash": fact["verification_hash"], "fri_degree_equation_ok": facts.fri.ok,
            "cairo_run_ms": int(run.seconds * 1000), "cpu_air_prover_ms": int(prover_s * 1000),
            "stone_facts": fact,
        }
        log.info("stone: proved %d steps in %.1fs (fact %s)", n_steps, time.monotonic() - started, fact["fact_hash"])
        return ProofArtifact(proof=proof, backend=self.name, prove_ms=int((time.monotonic() - started) * 1000),
                             details=details)

    def facts(self, statement: Statement, artifact: ProofArtifact, security_bits: int) -> dict[str, Any]:
        """Integrity's fact of the Stone proof itself (program and output segments of its public memory)."""
        proof = stone_facts.parse_stone_proof(json.loads(artifact.proof))
        return stone_facts.compute_facts(proof, MEMORY_VERIFICATION, self.stone_version).to_json()

    # ------------------------------------------------------------------ verification

    def verify(self, statement: Statement, artifact: ProofArtifact, min_security_bits: int) -> Verification:
        started = time.monotonic()

        def verdict(valid: bool, reason: str, bits: int = 0) -> Verification:
            return Verification(valid=valid, reason=reason, security_bits=bits,
                                verify_ms=int((time.monotonic() - started) * 1000), verifier="local")

        try:
            proof = stone_facts.parse_stone_proof(json.loads(artifact.proof))
            facts = stone_facts.compute_facts(proof, MEMORY_VERIFICATION)
        except (ValueError, stone_facts.StoneProofError) as exc:  # JSONDecodeError and UnicodeDecodeError included
            return verdict(False, f"not a usable Stone proof: {exc}")
        bits = facts.security_bits
        if bits < min_security_bits:
            return verdict(False, f"security {bits} bits is below the required {min_security_bits}", bits)
        if facts.fri.ok is False:
            return verdict(False, f"FRI degree equation fails: log2(last layer) + sum(steps) = {facts.fri.lhs}, "
                                  f"log2(n_steps) + 4 = {facts.fri.rhs}", bits)
        try:
            expected = cairo.expected_output(statement)
        except ValueError as exc:
            return verdict(False, f"the statement cannot be a program input: {exc}", bits)
        compiled = self.compiled()
        if facts.program_hash != compiled.program_hash:
            return verdict(False, f"the proof is for program {hex(facts.program_hash)}, not the allocation "
                                  f"program {hex(compiled.program_hash)}", bits)
        if list(facts.output) != expected:
            return verdict(False, "the proven output is not this statement's result "
                                  f"({_first_difference(list(facts.output), expected)})", bits)
        verifier = resolve_executable(self.cpu_air_verifier)
        if verifier is None:
            raise ProverUnavailable(f"{self.name}: cpu_air_verifier ({self.cpu_air_verifier}) not found")
        with tempfile.TemporaryDirectory(prefix="zkp-stone-verify-") as tmp:
            path = Path(tmp) / "proof.json"
            path.write_bytes(artifact.proof)
            try:
                cairo.run_tool([verifier, f"--in_file={path}"], self.verify_timeout_s, "cpu_air_verifier",
                               on_start=self.on_start)
            except cairo.CairoToolTimeout:
                raise ProverTimeout(f"{self.name}: cpu_air_verifier still running after "
                                    f"{self.verify_timeout_s:g}s; killed") from None
            except cairo.CairoToolError as exc:
                return verdict(False, f"rejected by {exc}", bits)
        return verdict(True, "", bits)


def _expected_or_fail(backend: str, statement: Statement) -> list[int]:
    """The program's expected output; a statement the program cannot take (an input >= 2**63) fails the attempt."""
    try:
        return cairo.expected_output(statement)
    except ValueError as exc:
        raise ProverFailed(f"{backend}: this statement cannot be proven by the Cairo program: {exc}") from None


def _first_difference(got: list[int], want: list[int]) -> str:
    if len(got) != len(want):
        return f"{len(got)} output felts, expected {len(want)}"
    i = next(i for i, (a, b) in enumerate(zip(got, want)) if a != b)
    return f"output[{i}] is {got[i]}, expected {want[i]}"
