"""STARK benchmarks: the standard statement and a scaling table.

Usage::

    python -m benchmarks.bench_stark                    # standard statement + scaling 2^10..2^16
    python -m benchmarks.bench_stark --max-log-rows 13  # stop at 2^13 rows (the default, 16, takes ~90 s and 2 GB)
    python -m benchmarks.bench_stark --json out.json    # also write the raw numbers

Every case runs in a fresh child process (single process, no parallelism), so
the reported peak memory is that process's maximum resident set size
(``VmHWM``), interpreter included.

Standard statement: ``examples/standard_statement.json`` (2 protocols x 720
hourly observations from the shipped replay data) at the default parameters.
Scaling: synthetic random-walk series with windows of 1 000 .. 8 000 hours give
traces of 2^10 .. 2^13 rows; the model caps the window at 8 760 hours, so the
2^14 .. 2^16-row cases use the longest window and pad the trace
(``AllocationAir(min_trace_length=...)``) — the prover's cost depends on the
trace size, not on what the rows hold.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import resource
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STANDARD = ROOT / "examples" / "standard_statement.json"
GOALS = {"prove_ms": 1500.0, "prove_cpu_ms": 1500.0, "verify_ms": 100.0, "proof_kb": 150.0, "security_bits": 96}
#: window (hours) per log2(trace rows) for the scaling table
WINDOWS = {10: 1000, 11: 2000, 12: 4000, 13: 8000, 14: 8760, 15: 8760, 16: 8760}


def _synthetic_statement(window: int):
    from zk_pipeline.risk.model import ALLOCATION_ORDER, ProtocolSeries
    from zk_pipeline.risk.params import ModelParams
    from zk_pipeline.risk.statement import Statement

    rng = random.Random(window)
    params = ModelParams(volatility_window_hours=window)
    series = {}
    for name in ALLOCATION_ORDER:
        p = [rng.randrange(3 * 10**12, 6 * 10**12)]
        for _ in range(window - 1):
            p.append(max(1, int(p[-1] * (1 + rng.gauss(0, 0.01)))))
        series[name] = ProtocolSeries(
            tuple(p), tuple(rng.randrange(10**11) for _ in range(24)), tuple(rng.randrange(10**8) for _ in range(24)),
            rng.randrange(10**12, 10**14))
    return Statement(datetime(2024, 6, 1, tzinfo=timezone.utc), 1, params, series).with_outputs()


def run_case(kind: str, log_rows: int | None, preset: str = "default") -> dict:
    """Prove and verify one case in this process; return the measurements."""
    from zk_pipeline.risk.statement import Statement
    from zk_pipeline.stark.params import COMPACT_PARAMS, DEFAULT_PARAMS
    from zk_pipeline.circuits.allocation.air import AllocationAir
    from zk_pipeline.circuits.allocation.public import public_data
    from zk_pipeline.stark.proof import Proof
    from zk_pipeline.stark.prover import ProverStats, prove
    from zk_pipeline.stark.verifier import verify

    if kind == "standard":
        stmt = Statement.from_json(STANDARD.read_text())
        min_rows = 256
    else:
        stmt = _synthetic_statement(WINDOWS[log_rows])
        min_rows = 1 << log_rows
    params = COMPACT_PARAMS if preset == "compact" else DEFAULT_PARAMS
    t0, c0 = time.perf_counter(), time.process_time()
    res = stmt.evaluate()
    air = AllocationAir(public_data(stmt), res, min_trace_length=min_rows)
    trace = air.build_main_trace(res)
    stats = ProverStats()
    proof = prove(air, trace, params, stats=stats)
    data = proof.to_bytes()
    prove_ms = (time.perf_counter() - t0) * 1000
    prove_cpu_ms = (time.process_time() - c0) * 1000
    t1, c1 = time.perf_counter(), time.process_time()
    vair = AllocationAir(public_data(stmt), min_trace_length=min_rows)
    report = verify(vair, Proof.from_bytes(data))
    verify_ms = (time.perf_counter() - t1) * 1000
    verify_cpu_ms = (time.process_time() - c1) * 1000
    return {
        "case": kind if kind == "standard" else f"2^{log_rows}",
        "params": f"{preset}: blowup {params.blowup}, {params.num_queries} queries, {params.grinding_bits} bits pow",
        "window": stmt.params.volatility_window_hours,
        "rows": air.trace_length,
        "columns": air.main_width + air.aux_width,
        "prove_ms": round(prove_ms, 1),
        "prove_cpu_ms": round(prove_cpu_ms, 1),
        "verify_ms": round(verify_ms, 1),
        "verify_cpu_ms": round(verify_cpu_ms, 1),
        "proof_kb": round(len(data) / 1024, 1),
        "proof_bytes": len(data),
        "security_bits": report.bits,
        "query_cosets": report.distinct_query_cosets,
        "peak_mb": round(_peak_rss_kb() / 1024, 1),
        "phases_ms": stats.phases,
    }


def _peak_rss_kb() -> int:
    """This process's peak resident set (VmHWM). ``ru_maxrss`` would not do: Linux carries it over
    ``fork`` + ``exec``, so a child started by a large parent reports the parent's size."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _child(kind: str, log_rows: int | None, preset: str = "default") -> dict:
    cmd = [sys.executable, "-m", "benchmarks.bench_stark", "--child", kind, "--preset", preset]
    if log_rows is not None:
        cmd += ["--log-rows", str(log_rows)]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    if out.returncode:
        raise RuntimeError(f"benchmark case {kind} {log_rows} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _table(rows: list[dict], cols: list[tuple[str, str]]) -> str:
    widths = [max(len(h), *(len(str(r[k])) for r in rows)) for k, h in cols]
    line = " | ".join(h.ljust(w) for (k, h), w in zip(cols, widths))
    sep = "-|-".join("-" * w for w in widths)
    body = [" | ".join(str(r[k]).ljust(w) for (k, _), w in zip(cols, widths)) for r in rows]
    return "\n".join([line, sep, *body])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--max-log-rows", type=int, default=16, help="largest scaling case, log2 rows (10..16)")
    ap.add_argument("--min-log-rows", type=int, default=10)
    ap.add_argument("--skip-scaling", action="store_true")
    ap.add_argument("--json", type=Path, help="write all measurements to this file")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--log-rows", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--preset", default="default", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(run_case(args.child, args.log_rows, args.preset)))
        return 0

    std = _child("standard", None)
    compact = _child("standard", None, "compact")
    from zk_pipeline.circuits.allocation import FIELD_BACKEND as BACKEND

    print(f"Standard statement (2 protocols x 720 hours, one process; prover field backend: {BACKEND})\n")
    print(_table([std, compact], [("params", "parameters"), ("rows", "rows"), ("columns", "columns"),
                               ("prove_ms", "prove ms"), ("prove_cpu_ms", "(cpu)"), ("verify_ms", "verify ms"),
                               ("verify_cpu_ms", "(cpu)"), ("proof_kb", "proof KiB"),
                               ("security_bits", "security bits"), ("query_cosets", "query cosets"),
                               ("peak_mb", "peak MB")]))
    print("\nsecurity bits = log2(blowup) x distinct first-layer FRI cosets opened + grinding (counted only "
          "above 80 query bits), as the verifier computes it from the proof (docs/stark.md, \"Security\").")
    print("\n(cpu) = process CPU time: on a machine shared with other jobs it is the better estimate of idle "
          "wall time.")
    print("\nDefault parameters against the goals:")
    for key, goal in GOALS.items():
        val = std[key]
        ok = val >= goal if key == "security_bits" else val <= goal
        print(f"  {key:14s} {val:>10} vs goal {'>=' if key == 'security_bits' else '<='} {goal:<8} "
              f"ratio {val / goal:5.2f}  {'OK' if ok else 'MISSED'}")
    print(f"\nProver phases (ms): {std['phases_ms']}")
    print(f"Prover phases, compact preset (ms): {compact['phases_ms']}")
    results = {"standard": std, "standard_compact": compact, "scaling": []}
    if not args.skip_scaling:
        print("\nScaling (synthetic windows; 2^14+ padded); last column: prove CPU time / (n log n), "
              "relative to the first row (1.0 = exactly n log n)\n")
        cols = [("case", "rows", 5), ("window", "window h", 8), ("columns", "columns", 7), ("prove_ms", "prove ms", 9),
                ("prove_cpu_ms", "(cpu)", 9), ("verify_ms", "verify ms", 9), ("proof_kb", "proof KiB", 9),
                ("peak_mb", "peak MB", 8), ("prove_vs_nlogn", "vs n log n", 10)]
        print(" | ".join(h.ljust(w) for _, h, w in cols))
        print("-|-".join("-" * w for _, _, w in cols), flush=True)
        base = None
        for k in range(args.min_log_rows, args.max_log_rows + 1):
            r = _child("scaling", k)
            base = base or r
            nlogn = (r["rows"] * math.log2(r["rows"])) / (base["rows"] * math.log2(base["rows"]))
            r["prove_vs_nlogn"] = round((r["prove_cpu_ms"] / base["prove_cpu_ms"]) / nlogn, 2)
            results["scaling"].append(r)
            print(" | ".join(str(r[key]).ljust(w) for key, _, w in cols), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
