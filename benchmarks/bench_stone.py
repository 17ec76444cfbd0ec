"""Built-in prover vs StarkWare's Stone, side by side: one machine, one run.

Usage::

    python -m benchmarks.bench_stone                  # standard statement, 168- and 2,160-hour windows
    python -m benchmarks.bench_stone --windows 168    # the standard statement and a 168-hour window only
    python -m benchmarks.bench_stone --json out.json  # also write the raw numbers

Each case runs in a fresh child process, one prover at a time. The built-in
prover proves the statement in that process (peak = its ``VmHWM``); Stone is
``cairo-run`` (timed on its own, its cache emptied first) then
``cpu_air_prover`` and ``cpu_air_verifier`` as child processes (peak = the
largest child's resident set, which is the prover's). Stone's prove time is
the prover alone; its verify time is ``cpu_air_verifier`` plus our program and
output checks. Without Stone installed (``make stone``), only the built-in
rows are printed, saying so.

Cairo steps: executed / padded to ``n_steps`` (the trace has 16 rows per
step). Security: Stone's ``n_queries * log2(blowup) + proof_of_work_bits``;
the built-in prover's honest count (``docs/stark.md``, "Security").
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.bench_stark import STANDARD, _peak_rss_kb, _synthetic_statement, _table

ROOT = Path(__file__).resolve().parents[1]
WINDOWS = (168, 2160)
#: The deployed system's risk program, proven by Stone (65,536 steps): the figure to compare with.
ANCHOR = "Stone took 65-81 s on the deployed system's risk program (65,536 steps)"


def _statement(case: str):
    from zk_pipeline.risk.statement import Statement

    if case == "standard":
        return Statement.from_json(STANDARD.read_text())
    return _synthetic_statement(int(case))


def run_builtin(case: str) -> dict:
    from zk_pipeline.circuits.allocation import prove_statement, verify_statement

    st = _statement(case)
    art = prove_statement(st)
    res = verify_statement(st, art.proof_bytes)
    assert res.valid, res.reason
    return {"prover": "built-in", "steps": "-", "trace": f"{art.trace_rows} x {art.trace_columns}",
            "prove_s": round(art.prove_ms / 1000, 2), "verify_s": round(res.verify_ms / 1000, 3),
            "proof_kb": round(len(art.proof_bytes) / 1024, 1), "peak_mb": round(_peak_rss_kb() / 1024),
            "security_bits": res.security_bits}


def run_stone(case: str) -> dict:
    from zk_pipeline import cairo
    from zk_pipeline.cairo.profile import steps_by_section
    from zk_pipeline.provers.base import ProofArtifact
    from zk_pipeline.provers.stone import StoneBackend

    st = _statement(case)
    backend = StoneBackend.from_env()
    backend.check_available()
    cache = Path(tempfile.mkdtemp(prefix="zkp-bench-stone-"))
    try:
        backend.cache_dir = cache
        compiled = backend.compiled()
        with tempfile.TemporaryDirectory() as tmp:
            run = cairo.run_program(compiled, st, Path(tmp), cairo_run=backend.cairo_run, timeout_s=3600,
                                    cache_dir=cache)
            sections = steps_by_section(compiled.path, run.trace)
        executed = sum(n for name, n in sections.items() if name != "__end__")
        art = backend.prove(st, timeout_s=3600)  # the run above is cached: this is compile + prover
        peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        v = backend.verify(st, ProofArtifact(art.proof, "stone", art.prove_ms, art.details), 96)
        assert v.valid, v.reason
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    d = art.details
    layout = json.loads(art.proof)["public_input"]["layout"]
    return {"prover": f"Stone ({layout})", "steps": f"{executed} / {d['n_steps']}",
            "trace": f"{d['n_steps'] * 16} x {STONE_COLUMNS.get(layout, '?')}",
            "prove_s": round(d["cpu_air_prover_ms"] / 1000, 2), "cairo_run_s": round(run.seconds, 1),
            "verify_s": round(v.verify_ms / 1000, 3), "proof_kb": round(len(art.proof) / 1024, 1),
            "peak_mb": round(peak_kb / 1024), "security_bits": v.security_bits,
            "sections": dict(list(sections.items())[:6])}


#: Trace columns (both interaction phases) of the layouts, from Stone's generated AIR definitions.
STONE_COLUMNS = {"small": 25, "recursive": 10, "dex": 22, "starknet": 10, "recursive_with_poseidon": 8,
                 "starknet_with_keccak": 15}


def _child(kind: str, case: str) -> dict | None:
    out = subprocess.run([sys.executable, "-m", "benchmarks.bench_stone", "--child", kind, "--case", case],
                         cwd=ROOT, capture_output=True, text=True, check=False)
    if out.returncode:
        raise RuntimeError(f"{kind} on {case} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _stone_available() -> str | None:
    from zk_pipeline.provers.base import ProverUnavailable
    from zk_pipeline.provers.stone import StoneBackend

    try:
        StoneBackend.from_env().check_available()
    except ProverUnavailable as exc:
        return str(exc)
    return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--windows", type=int, nargs="*", default=list(WINDOWS), help="extra windows, hours")
    ap.add_argument("--json", type=Path, help="write all measurements to this file")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--case", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(run_builtin(args.case) if args.child == "builtin" else run_stone(args.case)))
        return 0

    missing = _stone_available()
    print("\nBuilt-in prover vs Stone (one machine, one run; each case in a fresh process)\n")
    if missing:
        print(f"Stone rows left out: {missing} (install it with `make stone`, docs/stone.md)\n")
    rows = []
    for case in ["standard", *map(str, args.windows)]:
        label = "standard (720 h)" if case == "standard" else f"{case}-hour window"
        for kind in ("builtin", *(() if missing else ("stone",))):
            r = _child(kind, case)
            r["case"] = label
            rows.append(r)
            print(f"  {label}: {r['prover']} proved in {r['prove_s']} s", file=sys.stderr, flush=True)
    print(_table(rows, [("case", "statement"), ("prover", "prover"), ("steps", "Cairo steps"),
                        ("trace", "trace rows x columns"), ("prove_s", "prove s"), ("verify_s", "verify s"),
                        ("proof_kb", "proof KiB"), ("peak_mb", "peak MB"), ("security_bits", "security bits")]))
    print(f"\nAnchor: {ANCHOR}.")
    print("Stone's prove time is cpu_air_prover alone; cairo-run before it took "
          + ", ".join(f"{r['cairo_run_s']} s ({r['case']})" for r in rows if "cairo_run_s" in r) + "."
          if not missing else "")
    for r in rows:
        if "sections" in r:
            print(f"Steps by function, {r['case']}: {r['sections']}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
