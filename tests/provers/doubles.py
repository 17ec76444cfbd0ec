"""Test doubles for the tools and the service behind the Stone and Atlantic backends, and shared helpers.

Doubles (every one clearly named, none pretends to prove anything):

* ``write_fake_cpu_air_prover`` / ``write_fake_cpu_air_verifier`` — executable
  scripts with Stone's command line. The prover reads every file it is given
  and writes a proof JSON made of the *real* parameter file and AIR public
  input it received; its ``proof_hex`` is a SHA-256 binding of the two, which
  the fake verifier recomputes, so a proof edited after "proving" is rejected
  the way the real verifier would reject it.
* ``write_fake_cairo_run`` — a ``cairo-run`` stand-in for runs that need no
  real execution (timeouts, failures, the Atlantic PIE upload): it prints a
  configured output and writes a strict-mode AIR public input synthesized
  from the compiled program's bytecode (the memory layout of a real Stone
  proof's public input), or a PIE-shaped zip.
* ``AtlanticApiDouble`` — Atlantic's REST API on 127.0.0.1.

cairo-run policy (``cairo_run_or_fail``): the real ``cairo-run`` (cairo-lang
0.14) needs Python 3.10. ``$ZKP_CAIRO_RUN`` names one explicitly; otherwise
``scripts/setup_cairo_venv.sh`` builds ``.cairo-venv/`` (cached) from any
Python 3.10 it finds. If there is none, a test that needs a real Cairo run
FAILS with instructions, unless ``ZKP_NO_CAIRO_RUN=1`` opts out explicitly; then
it is skipped with that reason (reported by ``-ra``, never counted as passed).
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import inspect
import io
import json
import os
import random
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import zipfile
from datetime import datetime, timezone
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.data import stone_proofs
from zk_pipeline import cairo
from zk_pipeline.risk.model import ALLOCATION_ORDER, ProtocolSeries
from zk_pipeline.risk.params import ModelParams, ProtocolMeta
from zk_pipeline.risk.statement import Statement

ROOT = Path(__file__).resolve().parents[2]
STONE_PROOFS = stone_proofs()
REAL_RECURSIVE_PROOF = STONE_PROOFS / "recursive_cairo0_stone5_keccak_160_lsb_example_proof.json"
SETUP_SCRIPT = ROOT / "scripts" / "setup_cairo_venv.sh"
MAX = 2**63 - 1
HOUR = datetime(2025, 6, 1, 12, tzinfo=timezone.utc)


# --------------------------------------------------------------------------- compiled programs


@functools.lru_cache(maxsize=1)
def compile_cache() -> Path:
    """One compile cache per test session (compiling takes seconds; the cache key is the source hash)."""
    path = Path(tempfile.mkdtemp(prefix="zkp-test-cairo-cache-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def compiled(proof_mode: bool = True) -> cairo.CompiledProgram:
    return cairo.compile_program(proof_mode=proof_mode, cache_dir=compile_cache())


# --------------------------------------------------------------------------- cairo-run policy


@functools.lru_cache(maxsize=1)
def _setup_cairo_venv() -> tuple[int, str]:
    proc = subprocess.run(["bash", str(SETUP_SCRIPT)], capture_output=True, text=True, timeout=900)
    return proc.returncode, (proc.stdout.strip().splitlines() or [""])[-1] if proc.returncode == 0 else proc.stderr


def real_cairo_run() -> str | None:
    """The real cairo-run, or None when there is no Python 3.10 and ``ZKP_NO_CAIRO_RUN=1`` opts out.

    Fails the calling test (never skips silently) when cairo-run cannot be had
    and nobody opted out.
    """
    explicit = os.environ.get("ZKP_CAIRO_RUN")
    if explicit:
        if not os.access(explicit, os.X_OK):
            pytest.fail(f"ZKP_CAIRO_RUN={explicit} is not an executable file")
        return explicit
    code, text = _setup_cairo_venv()
    if code == 0:
        return text
    if code == 3:  # no Python 3.10 on this machine
        if os.environ.get("ZKP_NO_CAIRO_RUN") == "1":
            return None
        pytest.fail("running the Cairo program needs cairo-run (cairo-lang 0.14), which needs Python 3.10, and "
                    "none was found (tried $CAIRO_PYTHON, python3.10, pyenv). Install Python 3.10, or point "
                    "ZKP_CAIRO_RUN at a working cairo-run, or set ZKP_NO_CAIRO_RUN=1 to run the suite without "
                    "executing Cairo (those tests are then reported as skipped).")
    pytest.fail(f"scripts/setup_cairo_venv.sh failed (exit {code}):\n{text[-2000:]}")


def cairo_run_or_fail() -> str:
    """The real cairo-run; with the explicit opt-out, the test is skipped with that reason."""
    path = real_cairo_run()
    if path is None:
        pytest.skip("ZKP_NO_CAIRO_RUN=1: no Python 3.10 here and executing Cairo was explicitly opted out")
    return path


# --------------------------------------------------------------------------- the real Stone binaries


#: Where Stone is looked for when ``ZKP_STONE_PROVER`` / ``ZKP_STONE_VERIFIER`` are not set: what ``make stone``
#: installs (CI points the variables at its prebuilt binaries).
STONE_DIRS = (ROOT / ".data" / "stone" / "bin",)
STONE_MISSING = ("needs StarkWare's Stone (cpu_air_prover, cpu_air_verifier), not found: set ZKP_STONE_PROVER and "
                 "ZKP_STONE_VERIFIER, or install it with `make stone` (docs/stone.md)")


def stone_binaries() -> tuple[str, str] | None:
    """``(cpu_air_prover, cpu_air_verifier)`` of a real Stone, or None when this machine has none."""
    env = os.environ.get("ZKP_STONE_PROVER"), os.environ.get("ZKP_STONE_VERIFIER")
    if all(env):
        if not all(os.access(p, os.X_OK) for p in env):
            pytest.fail(f"ZKP_STONE_PROVER / ZKP_STONE_VERIFIER ({env[0]}, {env[1]}) are not executable files")
        return env  # type: ignore[return-value]
    for d in STONE_DIRS:
        tools = str(d / "cpu_air_prover"), str(d / "cpu_air_verifier")
        if all(os.access(p, os.X_OK) for p in tools):
            return tools
    return None


def stone_or_skip() -> tuple[str, str]:
    """The real Stone binaries; without them the test is SKIPPED, saying why and how to install them."""
    tools = stone_binaries()
    if tools is None:
        pytest.skip(STONE_MISSING)
    return tools


@functools.lru_cache(maxsize=1)
def real_proof_cache() -> Path:
    """One store of real Stone proofs per test run, shared by pytest-xdist's workers (one run id)."""
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if run:  # left for the OS to clear from /tmp: a worker cannot know when the others are done with it
        path = Path(tempfile.gettempdir()) / f"zkp-test-stone-proofs-{run}"
        path.mkdir(exist_ok=True)
        return path
    path = Path(tempfile.mkdtemp(prefix="zkp-test-stone-proofs-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def write_replaying_cpu_air_prover(tmp: Path, real_prover: str) -> Path:
    """The REAL ``cpu_air_prover``, run once per (public input, parameters, config) in a test session.

    Not a double of the STARK: the first call runs the real binary and keeps
    its proof; a later call with byte-identical inputs gets that same real
    proof back (what the binary would write again, minus a minute of
    proving). Every proof it hands out came from Stone and goes to the real
    verifier. For several pipeline runs over one statement, across workers.
    """
    script = tmp / "cpu_air_prover_replaying"
    script.write_text(f"""#!{sys.executable}
import fcntl, hashlib, os, shutil, signal, subprocess, sys
flags = dict(a[2:].split('=', 1) for a in sys.argv[1:] if a.startswith('--') and '=' in a)
h = hashlib.sha256()
for k in ('public_input_file', 'parameter_file', 'prover_config_file'):
    h.update(open(flags[k], 'rb').read() + b'\\0')
h.update(' '.join(a for a in sys.argv[1:] if '=' not in a).encode())
kept = os.path.join({str(real_proof_cache())!r}, h.hexdigest() + '.json')
lock = open(kept + '.lock', 'w')
fcntl.flock(lock, fcntl.LOCK_EX)  # another worker proving the same inputs: wait for its proof
if not os.path.exists(kept):
    code = subprocess.call([{real_prover!r}, *sys.argv[1:]])
    if code < 0:  # end the way the prover ended (an abort is signal 6)
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    if code != 0:
        sys.exit(code)
    shutil.copyfile(flags['out_file'], kept + '.tmp')
    os.replace(kept + '.tmp', kept)
else:
    shutil.copyfile(kept, flags['out_file'])
""")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


# --------------------------------------------------------------------------- statements


def random_params(rng: random.Random, window: int | None = None, util: int | None = None) -> ModelParams:
    """Valid parameters with every knob moved, so that each branch of the program gets exercised."""
    window = window or rng.randrange(3, 25)
    util = util or rng.randrange(1, window + 1)
    thresholds = sorted((rng.randrange(10**6, 10**15) for _ in range(3)), reverse=True)
    risk_min = rng.randrange(0, 40)
    return ModelParams(
        volatility_window_hours=window, utilization_window_hours=util,
        weight_den=rng.choice([1, 100, 10_000, 12_345]), utilization_weight=rng.randrange(0, 100),
        volatility_weight=rng.randrange(0, 100), audit_num=rng.randrange(0, 10), audit_den=rng.randrange(1, 20),
        age_cap_days=rng.randrange(1, 2000), age_weight=rng.randrange(0, 50),
        liquidity_tier_thresholds=tuple(thresholds), liquidity_tier_risk=tuple(rng.randrange(0, 60) for _ in range(4)),
        risk_min=risk_min, risk_max=rng.randrange(risk_min, 120),
        max_single_bps=rng.randrange(5000, 10_001), min_single_bps=rng.randrange(0, 5001),
        protocols={name: ProtocolMeta(audit_score=rng.randrange(0, 101),
                                      launch_unix=int(HOUR.timestamp()) + rng.randrange(-3 * 10**8, 10**7))
                   for name in ALLOCATION_ORDER},
    )


def random_series(rng: random.Random, window: int, util: int, wild: bool) -> ProtocolSeries:
    prices = [rng.randrange(10**6, 10**13)]
    for _ in range(window - 1):
        if wild and rng.random() < 0.3:  # >100 % jumps (the cap), crashes to 1, the top of the range
            nxt = rng.choice([1, prices[-1] * rng.randrange(2, 60), rng.randrange(1, MAX), MAX])
        else:
            nxt = int(prices[-1] * (1 + rng.gauss(0, 0.03)))
        prices.append(min(MAX, max(1, nxt)))
    big = wild and rng.random() < 0.5
    volumes = tuple(rng.choice([0, rng.randrange(10**12), MAX if big else rng.randrange(10**14)]) for _ in range(util))
    fees = tuple(rng.choice([0, rng.randrange(10**10), MAX if big else rng.randrange(10**9)]) for _ in range(util))
    tvl = rng.choice([1, rng.randrange(10**8, 10**15), MAX]) if wild else rng.randrange(10**8, 10**15)
    return ProtocolSeries(tuple(prices), volumes, fees, tvl)


def random_statement(seed: int, *, wild: bool = False, window: int | None = None) -> Statement:
    rng = random.Random(seed)
    params = random_params(rng, window=window)
    series = {n: random_series(rng, params.volatility_window_hours, params.utilization_window_hours, wild)
              for n in ALLOCATION_ORDER}
    return Statement(HOUR, 1, params, series)


def default_model_statement(seed: int) -> Statement:
    """A small statement under the registry's model v1 parameters, but a short window (fast runs)."""
    rng = random.Random(seed)
    params = ModelParams(volatility_window_hours=16, utilization_window_hours=4)
    series = {n: random_series(rng, 16, 4, wild=False) for n in ALLOCATION_ORDER}
    return Statement(HOUR, 1, params, series)


@functools.lru_cache(maxsize=1)
def replay_statement() -> Statement:
    """The real thing: model v1 (720-hour window) on the shipped replay dataset, for one hour."""
    from zk_pipeline.risk.series import build_statement
    from zk_pipeline.risk.registry import get_version
    from zk_pipeline.sources.base import Window
    from zk_pipeline.sources.quality import validate
    from zk_pipeline.sources.replay import ReplaySource

    hour = datetime(2026, 11, 26, 22, tzinfo=timezone.utc)
    window = Window(hour, 720)
    return build_statement(validate(ReplaySource().fetch(window), window).clean, hour, get_version(1))


# --------------------------------------------------------------------------- synthetic Stone public inputs


def skeleton() -> dict[str, Any]:
    """The public input of a real Stone proof (a recursive-layout Cairo 0 run)."""
    return json.loads(REAL_RECURSIVE_PROOF.read_text())["public_input"]


def synthetic_public_input(program_data: list[int], output: list[int], skeleton: dict[str, Any],
                           n_steps: int = 2**13) -> dict[str, Any]:
    """A strict-mode AIR public input for a proof-mode run of ``program_data`` that output ``output``.

    Same shape as cairo-run's (and the real Stone proofs'): the program at
    address 1, ``[initial_fp, 0]`` below the initial frame, the four builtin
    pointers of the small layout passed to and returned by main, then the
    output cells. rc bounds come from ``skeleton``, a real proof's public input.
    (Self-contained: its source is pasted into the executable doubles.)
    """
    n = len(program_data)
    initial_fp = n + 3
    exec_stop = initial_fp + 64
    out_begin, out_stop = exec_stop, exec_stop + len(output)
    segments = {"program": {"begin_addr": 1, "stop_ptr": 5},
                "execution": {"begin_addr": initial_fp, "stop_ptr": exec_stop},
                "output": {"begin_addr": out_begin, "stop_ptr": out_stop},
                "pedersen": {"begin_addr": out_stop, "stop_ptr": out_stop + 3},
                "range_check": {"begin_addr": out_stop + 100, "stop_ptr": out_stop + 110},
                "ecdsa": {"begin_addr": out_stop + 200, "stop_ptr": out_stop + 200}}
    cells = [(1 + i, v) for i, v in enumerate(program_data)]
    cells += [(initial_fp - 2, initial_fp), (initial_fp - 1, 0)]
    builtins = ("output", "pedersen", "range_check", "ecdsa")
    cells += [(initial_fp + i, segments[b]["begin_addr"]) for i, b in enumerate(builtins)]
    cells += [(exec_stop - 4 + i, segments[b]["stop_ptr"]) for i, b in enumerate(builtins)]
    cells += [(out_begin + i, v) for i, v in enumerate(output)]
    return {"layout": "small", "rc_min": skeleton["rc_min"], "rc_max": skeleton["rc_max"], "n_steps": n_steps,
            "memory_segments": segments, "dynamic_params": None,
            "public_memory": [{"address": a, "value": hex(v), "page": 0} for a, v in cells]}


def binding(public_input: dict, params: dict) -> str:
    """The fake prover's ``proof_hex``: binds a proof to its public input and parameters."""
    blob = json.dumps(public_input, sort_keys=True).encode() + json.dumps(params, sort_keys=True).encode()
    return "0x" + hashlib.sha256(blob).hexdigest()


def fake_stone_proof(public_input: dict, params: dict | None = None) -> bytes:
    params = params or json.loads(cairo.DEFAULT_PARAMS_FILE.read_text())
    return json.dumps({"proof_parameters": params, "public_input": public_input,
                       "proof_hex": binding(public_input, params)}).encode()


# --------------------------------------------------------------------------- executable doubles


def _script(path: Path, config: dict, body: str) -> Path:
    """An executable Python script (this interpreter) whose behaviour is read from ``path.json`` at each run."""
    conf = path.with_suffix(".json")
    conf.write_text(json.dumps(config))
    # The shared helpers are pasted in, so a double starts in milliseconds instead of importing the project.
    shared = inspect.getsource(synthetic_public_input) + "\n\n" + inspect.getsource(binding)
    path.write_text(f"#!{sys.executable}\n# Test double: see tests/provers/doubles.py\n"
                    "import json, os, sys, time, hashlib, subprocess, zipfile\nfrom typing import Any\n"
                    f"CONFIG = json.load(open({str(conf)!r}))\n\n{shared}\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def configure(script: Path, **changes: Any) -> None:
    conf = script.with_suffix(".json")
    data = json.loads(conf.read_text())
    data.update(changes)
    conf.write_text(json.dumps(data))


_FLAGS = """
def flags(argv):
    out, rest = {}, list(argv)
    while rest:
        a = rest.pop(0)
        if not a.startswith('--'):
            sys.exit(f'unexpected argument {a!r}')
        if '=' in a:
            k, v = a[2:].split('=', 1)
        elif rest and not rest[0].startswith('--'):
            k, v = a[2:], rest.pop(0)
        else:
            k, v = a[2:], True
        out[k] = v
    return out
"""

_HANG = """
def hang():
    open(CONFIG['pidfile'], 'w').write(str(os.getpid()))
    child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])
    open(CONFIG['pidfile'] + '.child', 'w').write(str(child.pid))
    time.sleep(600)
"""


def write_fake_cpu_air_prover(tmp: Path, mode: str = "ok", **config: Any) -> Path:
    """``cpu_air_prover`` double. Modes: ok, other_output (an honest proof of a different output),
    exit (status ``code``, ``stderr``), hang (writes ``pidfile``, spawns a grandchild, sleeps), no_proof."""
    body = _FLAGS + _HANG + """
f = flags(sys.argv[1:])
open(CONFIG['log'], 'a').write(json.dumps(sys.argv[1:]) + '\\n')
need = ['out_file', 'private_input_file', 'public_input_file', 'prover_config_file', 'parameter_file']
missing = [k for k in need if k not in f]
if missing:
    sys.exit(f'missing flags {missing}')
public = json.load(open(f['public_input_file']))
private = json.load(open(f['private_input_file']))
params = json.load(open(f['parameter_file']))
config = json.load(open(f['prover_config_file']))
for k in ('trace_path', 'memory_path'):
    if not os.path.exists(private[k]):
        sys.exit(f'{k} {private[k]} does not exist')
mode = CONFIG['mode']
if mode == 'exit':
    sys.stderr.write(CONFIG.get('stderr', 'prover crashed') + '\\n'); sys.exit(CONFIG.get('code', 1))
if mode == 'hang':
    hang()
if mode == 'no_proof':
    sys.exit(0)
if mode == 'other_output':
    out = public['memory_segments']['output']
    for cell in public['public_memory']:
        if cell['address'] == out['stop_ptr'] - 1:
            cell['value'] = hex(int(cell['value'], 16) + 1)
proof = {'proof_parameters': params, 'public_input': public, 'prover_config': config,
         'private_input': private, 'proof_hex': binding(public, params)}
if f.get('generate_annotations'):
    proof['annotations'] = ['fake annotations: test double']
json.dump(proof, open(f['out_file'], 'w'))
"""
    return _script(tmp / "fake_cpu_air_prover", {"mode": mode, "log": str(tmp / "prover_calls.log"), **config}, body)


def write_fake_cpu_air_verifier(tmp: Path, mode: str = "check", **config: Any) -> Path:
    """``cpu_air_verifier`` double. Modes: check (exit 0 iff ``proof_hex`` binds the public input and
    parameters), reject (exit 1 with an error), hang."""
    body = _FLAGS + _HANG + """
f = flags(sys.argv[1:])
if CONFIG['mode'] == 'hang':
    hang()
if CONFIG['mode'] == 'reject':
    sys.stderr.write('Verification failed: invalid FRI last layer\\n'); sys.exit(1)
proof = json.load(open(f['in_file']))
if proof.get('proof_hex') != binding(proof['public_input'], proof['proof_parameters']):
    sys.stderr.write('Invalid proof: commitment mismatch\\n'); sys.exit(1)
print('Proof verified successfully.')
"""
    return _script(tmp / "fake_cpu_air_verifier", {"mode": mode, **config}, body)


def write_fake_cairo_run(tmp: Path, output: list[int], mode: str = "ok", **config: Any) -> Path:
    """``cairo-run`` double: prints ``output``; writes a synthetic strict public input (proof mode) or a
    PIE-shaped zip (``--cairo_pie_output``). Modes: ok, exit, hang."""
    body = _FLAGS + _HANG + """
f = flags(sys.argv[1:])
if CONFIG['mode'] == 'exit':
    sys.stderr.write('Error: An ASSERT_EQ instruction failed\\n'); sys.exit(1)
if CONFIG['mode'] == 'hang':
    hang()
json.load(open(f['program_input']))
program = json.load(open(f['program']))
out = CONFIG['output']
if f.get('proof_mode'):
    public = synthetic_public_input([int(x, 16) for x in program['data']], out, CONFIG['skeleton'])
    json.dump(public, open(f['air_public_input'], 'w'))
    for k in ('trace_file', 'memory_file'):
        open(f[k], 'wb').write(b'fake ' + k.encode())
    json.dump({'trace_path': f['trace_file'], 'memory_path': f['memory_file'], 'pedersen': [], 'range_check': [],
               'ecdsa': []}, open(f['air_private_input'], 'w'))
if f.get('cairo_pie_output'):
    with zipfile.ZipFile(f['cairo_pie_output'], 'w') as z:
        z.writestr('version.json', json.dumps({'cairo_pie': '1.1'}))
        z.writestr('metadata.json', json.dumps({'program': {'data': program['data']}, 'fake': 'test double'}))
        z.writestr('memory.bin', b'')
print('Program output:')
for v in out:
    print(f'  {v}')
print()
"""
    return _script(tmp / "fake_cairo_run", {"mode": mode, "output": list(output), "skeleton": skeleton(), **config},
                   body)


# --------------------------------------------------------------------------- Atlantic


def bootloader_output(task_output: list[int], program_hash: int) -> list[int]:
    """The simple bootloader's output for one task."""
    return [1, len(task_output) + 2, program_hash, *task_output]


def atlantic_proof(task_output: list[int], program_hash: int, params: dict | None = None) -> bytes:
    """A Stone-shaped proof of a bootloader run of our task (the bootloader's bytecode: any real program's)."""
    real = json.loads(REAL_RECURSIVE_PROOF.read_text())["public_input"]["public_memory"]
    bootloader_code = [int(c["value"], 16) for c in real if 1 <= c["address"] <= 34]
    public = synthetic_public_input(bootloader_code, bootloader_output(task_output, program_hash), skeleton())
    return fake_stone_proof(public, params)


class AtlanticApiDouble:
    """Atlantic's REST API on 127.0.0.1 (documented shapes; see ``zk_pipeline/provers/atlantic_client.py``).

    ``POST /atlantic-query`` (multipart, header ``api-key``) → ``{"atlanticQueryId"}``;
    ``GET /atlantic-query/{id}`` walks ``statuses`` one poll at a time, then stays on the last,
    with ``final`` merged into the record once DONE/FAILED; ``GET /atlantic-query-by-dedup-id``;
    ``GET /files/{id}/proof.json`` (storage, no key) serves ``proof``. A wrong or missing key is 401;
    the first ``fail_submits`` submissions and ``fail_gets`` query reads answer 503.
    """

    def __init__(self, api_key: str, proof: bytes = b"{}", statuses: list[str] | None = None,
                 final: dict | None = None, fail_submits: int = 0, fail_gets: int = 0) -> None:
        self.api_key, self.proof = api_key, proof
        self.statuses = statuses or ["RECEIVED", "IN_PROGRESS", "DONE"]
        self.final = final if final is not None else {
            "step": "PROOF_VERIFICATION", "steps": ["TRACE_GENERATION", "PROOF_GENERATION", "FACT_HASH_GENERATION",
                                                    "PROOF_VERIFICATION"],
            "integrityFactHash": "0x1234", "isFactMocked": False, "programHash": "0xabc"}
        self.fail_submits, self.fail_gets = fail_submits, fail_gets
        self.requests: list[dict] = []
        self.submissions: list[dict] = []
        self.queries: dict[str, dict] = {}
        self.polls: dict[str, int] = {}
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "AtlanticApiDouble":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def record(self, query_id: str) -> dict:
        n = self.polls.get(query_id, 0)
        status = self.statuses[min(n, len(self.statuses) - 1)]
        rec = {"id": query_id, "status": status, "step": "PROOF_GENERATION" if status != "RECEIVED" else None,
               "result": self.queries[query_id]["result"], "network": self.queries[query_id]["network"],
               "layout": self.queries[query_id]["layout"], "dedupId": self.queries[query_id]["dedupId"]}
        if status in ("DONE", "FAILED"):
            rec.update(self.final)
        return rec

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        double = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def _send(self, code: int, body: Any, ctype: str = "application/json") -> None:
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _authed(self) -> bool:
                return self.headers.get("api-key") == double.api_key

            def _note(self, body: bytes = b"") -> None:
                with double._lock:
                    double.requests.append({"method": self.command, "path": self.path,
                                            "headers": dict(self.headers.items()), "body_size": len(body)})

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self._note(body)
                if urlsplit(self.path).path != "/atlantic-query":
                    return self._send(404, {"message": "not found"})
                if not self._authed():
                    return self._send(401, {"message": "Unauthorized", "statusCode": 401})
                with double._lock:
                    if double.fail_submits > 0:
                        double.fail_submits -= 1
                        return self._send(503, {"message": "Service Unavailable"})
                msg = BytesParser(policy=HTTP).parsebytes(
                    b"Content-Type: " + self.headers["Content-Type"].encode() + b"\r\n\r\n" + body)
                fields, files = {}, {}
                for part in msg.iter_parts():
                    name = part.get_param("name", header="content-disposition")
                    if part.get_filename():
                        files[name] = part.get_payload(decode=True)
                    else:
                        fields[name] = part.get_content().strip()
                if "pieFile" not in files or not files["pieFile"].startswith(b"PK"):
                    return self._send(400, {"message": "pieFile must be a zip"})
                with double._lock:
                    for qid, q in double.queries.items():
                        if fields.get("dedupId") and q["dedupId"] == fields["dedupId"]:
                            return self._send(400, {"message": "ATLANTIC_QUERY_WITH_DEDUP_ID_ALREADY_EXISTS"})
                    qid = f"01TESTQUERY{len(double.queries):06d}"
                    double.queries[qid] = fields
                    double.submissions.append({"fields": fields, "files": files})
                self._send(201, {"atlanticQueryId": qid})

            def do_GET(self) -> None:  # noqa: N802
                self._note()
                parts = urlsplit(self.path)
                path = parts.path
                if path.startswith("/files/") and path.endswith("/proof.json"):
                    return self._send(200, double.proof)  # storage: no key needed
                if not self._authed():
                    return self._send(401, {"message": "Unauthorized", "statusCode": 401})
                if path == "/atlantic-query-by-dedup-id":
                    dedup = parse_qs(parts.query).get("dedupId", [""])[0]
                    for qid, q in double.queries.items():
                        if q["dedupId"] == dedup:
                            return self._send(200, {"atlanticQuery": double.record(qid)})
                    return self._send(404, {"message": "not found"})
                if path.startswith("/atlantic-query/"):
                    qid = path.rsplit("/", 1)[-1]
                    with double._lock:
                        if double.fail_gets > 0:
                            double.fail_gets -= 1
                            return self._send(502, b"<html>bad gateway</html>", "text/html")
                        if qid not in double.queries:
                            return self._send(404, {"message": "ATLANTIC_QUERY_NOT_FOUND"})
                        rec = double.record(qid)
                        double.polls[qid] = double.polls.get(qid, 0) + 1
                    urls = [f"{double.url}/files/{qid}/metadata.json", f"{double.url}/files/{qid}/proof.json"] \
                        if rec["status"] == "DONE" else []
                    return self._send(200, {"atlanticQuery": rec, "metadataUrls": urls})
                self._send(404, {"message": "not found"})

        return Handler


def zip_names(data: bytes) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return sorted(z.namelist())
