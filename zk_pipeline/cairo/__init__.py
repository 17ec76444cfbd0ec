"""The risk model as a Cairo 0 program (``allocation.cairo``), and what it reads and writes.

The Stone and Atlantic backends prove runs of that program; this module is
the single place that knows its interface, so a backend and a verifier agree
on it by construction:

* ``program_input(statement)`` — the JSON ``cairo-run --program_input`` gets:
  ``{"model_hash": int, "inputs": [hour_unix, *params, *jediswap series,
  *ekubo series]}`` with ``PARAM_ORDER`` giving the parameters' order and each
  series being ``prices, volumes, fees, tvl``;
* ``expected_output(statement)`` — the output segment the program must write,
  from the Python model (``Statement.evaluate``): inputs commitment, model
  hash, 7 values per protocol, the two allocation shares. A proof is only
  accepted if its public output is exactly this list;
* ``compile_program()`` — ``cairo-compile --proof_mode`` (or the plain build a
  Cairo PIE is made of), cached by the hash of the source, the mode and the
  compiler's version, since compiling takes seconds and the compiled program
  (hence its program hash) must be identical between prover and verifier;
* ``run_program()`` — ``cairo-run --layout small`` as a killable child:
  Stone's AIR inputs (proof mode) or a PIE (plain). cairo-lang 0.14's
  cairo-run needs Python 3.10 (``scripts/setup_cairo_venv.sh``).

The model hash is passed to the program and echoed in its output, not
computed by it (it is SHA-256 over JSON; see ``allocation.cairo``): the
verifier recomputes it from the statement's parameters, which the inputs
commitment binds to the proof.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from starknet_py.hash.utils import compute_hash_on_elements, pedersen_hash

from zk_pipeline.facts.hashing import poseidon_hash_many
from zk_pipeline.risk.model import ALLOCATION_ORDER
from zk_pipeline.risk.statement import Statement
from zk_pipeline.settings import get_settings

PROGRAM_SOURCE = Path(__file__).resolve().with_name("allocation.cairo")
#: Stone's layout for our runs (``docs/stone.md``): the only Integrity layout with 16 range-check cells per
#: step, so the holes left by range-checking 63-bit inputs do not pad every run to 2**17 steps as in
#: ``recursive`` (1 spare cell per step); the standard statement pads to 2**16, a 16-hour one to 2**13.
LAYOUT = "small"
DEFAULT_PARAMS_FILE = Path(__file__).resolve().with_name("cpu_air_params.json")
DEFAULT_PROVER_CONFIG_FILE = Path(__file__).resolve().with_name("cpu_air_prover_config.json")

#: ``struct Params`` of allocation.cairo, in order. Per-protocol metadata comes last, jediswap first.
PARAM_ORDER: tuple[str, ...] = (
    "volatility_window_hours", "utilization_window_hours", "weight_den", "utilization_weight",
    "volatility_weight", "audit_num", "audit_den", "age_cap_days", "age_weight",
    "tier_threshold0", "tier_threshold1", "tier_threshold2",
    "tier_risk0", "tier_risk1", "tier_risk2", "tier_risk3",
    "risk_min", "risk_max", "max_single_bps", "min_single_bps",
    "jediswap_audit_score", "jediswap_launch_unix", "ekubo_audit_score", "ekubo_launch_unix",
)
#: Per protocol, in the order of ``struct ProtocolResult`` (and of ``ModelResult.summary``).
PROTOCOL_OUTPUTS: tuple[str, ...] = ("volatility_annualized_bps", "volatility_bps", "utilization_bps", "apy_bps",
                                     "liquidity_tier", "age_days", "risk")
OUTPUT_SIZE = 2 + len(ALLOCATION_ORDER) * len(PROTOCOL_OUTPUTS) + 2
#: Every program input must be below this (allocation.cairo range-checks it).
MAX_INPUT = 2**63


# --------------------------------------------------------------------------- program input and output


def _param_values(statement: Statement) -> list[int]:
    p = statement.params
    values = {
        "volatility_window_hours": p.volatility_window_hours,
        "utilization_window_hours": p.utilization_window_hours,
        "weight_den": p.weight_den,
        "utilization_weight": p.utilization_weight,
        "volatility_weight": p.volatility_weight,
        "audit_num": p.audit_num,
        "audit_den": p.audit_den,
        "age_cap_days": p.age_cap_days,
        "age_weight": p.age_weight,
        **{f"tier_threshold{i}": t for i, t in enumerate(p.liquidity_tier_thresholds)},
        **{f"tier_risk{i}": r for i, r in enumerate(p.liquidity_tier_risk)},
        "risk_min": p.risk_min,
        "risk_max": p.risk_max,
        "max_single_bps": p.max_single_bps,
        "min_single_bps": p.min_single_bps,
    }
    for name in ALLOCATION_ORDER:
        values[f"{name}_audit_score"] = p.protocols[name].audit_score
        values[f"{name}_launch_unix"] = p.protocols[name].launch_unix
    return [values[k] for k in PARAM_ORDER]


def flat_inputs(statement: Statement) -> list[int]:
    """Every input of the program, in the order it reads them (and commits to them)."""
    flat = [statement.hour_unix, *_param_values(statement)]
    for name in ALLOCATION_ORDER:
        s = statement.series[name]
        flat += [*s.prices, *s.volumes, *s.fees, s.tvl]
    too_big = [i for i, v in enumerate(flat) if not 0 <= v < MAX_INPUT]
    if too_big:
        raise ValueError(f"{len(too_big)} program input(s) outside [0, 2**63) (first at index {too_big[0]}); "
                         "allocation.cairo cannot represent this statement")
    return flat


def program_input(statement: Statement) -> dict:
    """The JSON object ``cairo-run --program_input`` reads (integers, not strings: Python's JSON keeps them exact)."""
    return {"model_hash": statement.model_hash, "inputs": flat_inputs(statement)}


def packed_inputs(statement: Statement) -> list[int]:
    """The flat inputs three to a felt, ``x0 + x1 * 2**63 + x2 * 2**126``, the last group padded with zeros.

    Injective because every input is below 2**63, and unambiguous about the
    length because the parameters at the start of the list fix it.
    """
    flat = flat_inputs(statement)
    flat += [0] * (-len(flat) % 3)
    return [flat[i] + (flat[i + 1] << 63) + (flat[i + 2] << 126) for i in range(0, len(flat), 3)]


def inputs_commitment(statement: Statement) -> int:
    """``h(...h(h(0, w0), w1)..., n)`` over the packed inputs, ``h`` Pedersen: Cairo's ``hash_state``."""
    return compute_hash_on_elements(packed_inputs(statement))


def expected_output(statement: Statement) -> list[int]:
    """The output segment a correct run writes, computed by the Python model."""
    summary = statement.evaluate().summary()
    out = [inputs_commitment(statement), statement.model_hash]
    for name in ALLOCATION_ORDER:
        out += [summary["protocols"][name][k] for k in PROTOCOL_OUTPUTS]
    out += [summary["allocation"]["jediswap_bps"], summary["allocation"]["ekubo_bps"]]
    return out


# --------------------------------------------------------------------------- child processes


#: Stone prints a symbolized backtrace after its error message on an abort; the message is what says why.
STACK_TRACE_HEADER = "Stack trace (most recent call last):"


class CairoToolError(RuntimeError):
    """A Cairo tool (compiler, runner) is missing, failed or timed out; the message says which and why."""


class CairoToolTimeout(CairoToolError):
    pass


def run_tool(argv: Sequence[str], timeout_s: float, what: str,
             on_start: Callable[[int], None] | None = None) -> subprocess.CompletedProcess:
    """Run one tool as a killable child (own session, dies with us: ``provers/command.py``'s helpers).

    Raises ``CairoToolTimeout`` after killing the whole process group, and
    ``CairoToolError`` on a non-zero exit (with the tail of stderr) or a
    missing executable. Returns the completed process otherwise.
    """
    from zk_pipeline.child_process import ChildTimeout, run_child, tail

    try:
        res = run_child(argv, timeout_s, on_start)
    except OSError as exc:
        raise CairoToolError(f"{what}: cannot start {argv[0]}: {exc.strerror or exc}") from None
    except ChildTimeout:
        raise CairoToolTimeout(f"{what}: no result after {timeout_s:g}s; killed") from None
    if res.returncode != 0:
        stderr = res.stderr.split(STACK_TRACE_HEADER, 1)[0]
        raise CairoToolError(f"{what}: {res.describe_exit()}: {tail(stderr) or tail(res.stdout) or 'no output'}")
    return subprocess.CompletedProcess(list(argv), res.returncode, res.stdout, res.stderr)


def locate_cairo_compile(explicit: str | None, cairo_run: str) -> str | None:
    """``cairo-compile``: as configured, else beside this interpreter, else beside ``cairo-run``."""
    from zk_pipeline.child_process import resolve_executable

    if explicit:
        return resolve_executable(explicit)
    found = find_executable("cairo-compile")
    if found:
        return found
    sibling = Path(cairo_run).with_name("cairo-compile")
    return str(sibling) if os.sep in cairo_run and os.access(sibling, os.X_OK) else None


def find_executable(name: str) -> str | None:
    """``name`` next to this interpreter (the project venv's scripts), else on PATH."""
    sibling = Path(sys.executable).with_name(name)
    if os.access(sibling, os.X_OK):
        return str(sibling)
    return shutil.which(name)


# --------------------------------------------------------------------------- compilation


@dataclass(frozen=True)
class CompiledProgram:
    path: Path  # the compiled JSON
    data: tuple[int, ...]  # the bytecode
    main: int  # pc of main
    builtins: tuple[str, ...]
    proof_mode: bool

    @property
    def program_hash(self) -> int:
        """Integrity's program hash of a proof-mode run (strict mode): Poseidon over the bytecode.

        In proof mode the bytecode is loaded at address 1 and is exactly the
        program segment Integrity carves out of the public memory.
        """
        return poseidon_hash_many(list(self.data))

    @property
    def bootloader_program_hash(self) -> int:
        """The hash a (simple) bootloader records for this program when it runs it as a task.

        Pedersen hash chain ``h(n, h(x0, h(x1, ...)))`` over ``[0 (bootloader
        version), main, len(builtins), *builtin names as felts, *bytecode]``,
        ``n`` being that list's length: what cairo-lang's
        ``compute_program_hash_chain`` computes with the Pedersen hash. A proof
        made by a proving service that bootloads our PIE names the program by
        this hash.
        """
        return _bootloader_program_hash(self.data, self.main, self.builtins)


@lru_cache(maxsize=8)
def _bootloader_program_hash(data: tuple[int, ...], main: int, builtins: tuple[str, ...]) -> int:
    """Cached: ~1,000 Pedersen hashes, and a backend asks for it on every prove and verify."""
    names = [int.from_bytes(b.encode("ascii"), "big") for b in builtins]
    chain = [0, main, len(builtins), *names, *data]
    return pedersen_hash_chain([len(chain), *chain])


def pedersen_hash_chain(values: Sequence[int]) -> int:
    """``h(v0, h(v1, ... h(v[n-2], v[n-1])))`` with the Pedersen hash."""
    if not values:
        raise ValueError("a hash chain needs at least one value")
    acc = values[-1]
    for v in reversed(values[:-1]):
        acc = pedersen_hash(v, acc)
    return acc


def default_cache_dir() -> Path:
    """``$ZKP_CAIRO_CACHE``, else ``$XDG_CACHE_HOME/zk-pipeline/cairo`` (``~/.cache/...``)."""
    return get_settings().cairo.cache_dir


@lru_cache(maxsize=8)
def _compiler_version(cairo_compile: str) -> str:
    return run_tool([cairo_compile, "--version"], 60, "cairo-compile --version").stdout.strip()


def compile_program(*, proof_mode: bool = True, cairo_compile: str | None = None, cache_dir: Path | None = None,
                    source: Path = PROGRAM_SOURCE, timeout_s: float = 180) -> CompiledProgram:
    """Compile ``source`` (``--proof_mode`` unless told otherwise), or reuse the cached result.

    Proof mode is what Stone proves (the entry stub ends in ``jmp rel 0`` and
    the trace is padded to a power of two); the plain program is what a Cairo
    PIE is made of, for services that bootload PIEs. The cache key is SHA-256
    over the source bytes, the mode and ``cairo-compile --version``; the result
    is written to a temporary file and renamed, so concurrent compilations never
    see a half-written program.
    """
    cairo_compile = cairo_compile or find_executable("cairo-compile")
    if not cairo_compile:
        raise CairoToolError("cairo-compile not found (install cairo-lang==0.14.0.1 or configure its path)")
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    src = Path(source).read_bytes()
    mode = b"proof" if proof_mode else b"plain"
    key = hashlib.sha256(src + b"\0" + mode + b"\0" + _compiler_version(cairo_compile).encode()).hexdigest()[:32]
    out = cache_dir / f"{Path(source).stem}-{mode.decode()}-{key}.json"
    if not out.exists():
        cache_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=".compile-", suffix=".json")
        os.close(fd)
        try:
            run_tool([cairo_compile, *(["--proof_mode"] if proof_mode else []), str(source), "--output", tmp],
                     timeout_s, "cairo-compile")
            os.replace(tmp, out)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return load_compiled(out, proof_mode=proof_mode)


def load_compiled(path: Path, *, proof_mode: bool = True) -> CompiledProgram:
    doc = json.loads(Path(path).read_text())
    main = doc["identifiers"]["__main__.main"]["pc"]
    return CompiledProgram(path=Path(path), data=tuple(int(x, 16) for x in doc["data"]), main=int(main),
                           builtins=tuple(doc["builtins"]), proof_mode=proof_mode)


# --------------------------------------------------------------------------- running


@dataclass(frozen=True)
class CairoRun:
    """The files of one run: Stone's inputs (proof mode) or a Cairo PIE (plain mode)."""

    output: list[int]  # what --print_output printed
    seconds: float
    public_input: Path | None = None
    private_input: Path | None = None
    trace: Path | None = None
    memory: Path | None = None
    pie: Path | None = None


def parse_printed_output(stdout: str) -> list[int]:
    """The values ``cairo-run --print_output`` printed, as field elements in [0, PRIME).

    cairo-run prints felts above PRIME/2 as negatives; they are mapped back so
    they compare with the public memory and ``expected_output``.
    """
    from zk_pipeline.stark.field import P as FIELD_PRIME

    lines = stdout.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == "Program output:") + 1
    except StopIteration:
        raise CairoToolError("cairo-run printed no 'Program output:' section") from None
    values = []
    for line in lines[start:]:
        text = line.strip()
        if not text:
            break
        try:
            values.append(int(text) % FIELD_PRIME)
        except ValueError:
            break
    return values


#: Proof-mode runs kept by ``run_program``'s cache (each is a few MB: trace, memory, AIR inputs).
RUN_CACHE_ENTRIES = 16


def run_program(compiled: CompiledProgram, statement: Statement, workdir: Path, *, cairo_run: str,
                timeout_s: float, on_start: Callable[[int], None] | None = None,
                cache_dir: Path | None = None) -> CairoRun:
    """Run the program on the statement with ``cairo-run --layout small``, writing files under ``workdir``.

    A proof-mode program is run with ``--proof_mode`` and leaves the AIR
    public/private inputs, trace and memory for ``cpu_air_prover``; a plain
    program leaves a Cairo PIE (``pie.zip``).

    With ``cache_dir``, a proof-mode run is kept under the SHA-256 of the
    compiled program, its input and the ``cairo-run`` used: the run is
    deterministic, so a retry or a fallback re-proving the same statement
    skips the VM (seconds to minutes) and gets identical files.
    """
    workdir = Path(workdir)
    inputs = json.dumps(program_input(statement))
    input_path = workdir / "program_input.json"
    input_path.write_text(inputs)
    argv = [cairo_run, "--program", str(compiled.path), "--program_input", str(input_path), "--layout", LAYOUT,
            "--print_output"]
    files: dict[str, Path] = {}
    if compiled.proof_mode:
        files = {"public_input": workdir / "air_public_input.json", "private_input": workdir / "air_private_input.json",
                 "trace": workdir / "trace.bin", "memory": workdir / "memory.bin"}
        argv += ["--proof_mode", "--air_public_input", str(files["public_input"]),
                 "--air_private_input", str(files["private_input"]),
                 "--trace_file", str(files["trace"]), "--memory_file", str(files["memory"])]
    else:
        files = {"pie": workdir / "pie.zip"}
        argv += ["--cairo_pie_output", str(files["pie"])]
    started = time.monotonic()
    entry = None
    if cache_dir is not None and compiled.proof_mode:
        key = hashlib.sha256(b"\0".join([compiled.path.read_bytes(), inputs.encode(), LAYOUT.encode(),
                                         _executable_identity(cairo_run)])).hexdigest()[:32]
        entry = Path(cache_dir) / "runs" / key
        output = _cached_run(entry, files)
        if output is not None:
            return CairoRun(output=output, seconds=time.monotonic() - started, **files)
    proc = run_tool(argv, timeout_s, "cairo-run", on_start=on_start)
    missing = [p.name for p in files.values() if not p.exists()]
    if missing:
        raise CairoToolError(f"cairo-run exited 0 but did not write {', '.join(missing)}")
    output = parse_printed_output(proc.stdout)
    if entry is not None:
        _store_run(entry, files, output)
    return CairoRun(output=output, seconds=time.monotonic() - started, **files)


def _executable_identity(command: str) -> bytes:
    """Path and file identity of ``command``: a reinstalled or replaced cairo-run misses the cache."""
    path = shutil.which(command) or command
    try:
        st = os.stat(path)
    except OSError:
        return path.encode()
    return f"{os.path.realpath(path)}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}".encode()


def _cached_run(entry: Path, files: dict[str, Path]) -> list[int] | None:
    """Copy a cached run into place (its private input pointed at the new trace and memory); its output."""
    try:
        output = json.loads((entry / "output.json").read_text())
        for dest in files.values():
            shutil.copyfile(entry / dest.name, dest)
    except (OSError, ValueError):
        return None
    private = json.loads(files["private_input"].read_text())
    private.update(trace_path=str(files["trace"]), memory_path=str(files["memory"]))
    files["private_input"].write_text(json.dumps(private))
    os.utime(entry)  # most recently used
    return [int(v) for v in output]


def _store_run(entry: Path, files: dict[str, Path], output: list[int]) -> None:
    """Write the entry beside its final place and rename it in, then drop the least recently used."""
    root = entry.parent
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=root, prefix=".run-"))
    try:
        for dest in files.values():
            shutil.copyfile(dest, staging / dest.name)
        (staging / "output.json").write_text(json.dumps(output))
        os.rename(staging, entry)
    except OSError:  # another process stored the same run first, or the disk is full: the run itself stands
        shutil.rmtree(staging, ignore_errors=True)
        return
    entries = sorted((p for p in root.iterdir() if not p.name.startswith(".")), key=lambda p: p.stat().st_mtime)
    for old in entries[:-RUN_CACHE_ENTRIES]:
        shutil.rmtree(old, ignore_errors=True)
