"""API under concurrent load, beside its own baselines measured in the same run.

``python -m benchmarks.bench_api [--seconds S] [--decisions N]`` (part of ``make bench``).

One embedded PostgreSQL (or ``DATABASE_URL``) holds one real decision and copies
of it (``benchmarks/seed.py``). The API is served by uvicorn with 1 and then 2
workers, with two extra routes for the baselines: ``/bench/constant`` (no
database) and ``/bench/select1`` (a ``SELECT 1`` through the same session
dependency as the real routes). A load generator in its own process keeps
1, 16 and 64 HTTP/1.1 keep-alive connections busy for a bounded time against
127.0.0.1 and counts answers, errors and latencies. Ratios are to
``/bench/select1`` at the same clients and workers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

from api.deps import SessionDep  # at module level: the baseline route's annotation is resolved here

ROOT = Path(__file__).resolve().parents[1]
ROUTES = {"constant": "/bench/constant", "select1": "/bench/select1",
          "decisions": "/api/v1/risk-engine/decisions", "health": "/api/v1/health"}
CLIENTS = (1, 16, 64)


def baseline_app():
    """The API plus the two baseline routes (``uvicorn --factory``; reads ``DATABASE_URL``)."""
    from fastapi import APIRouter
    from sqlalchemy import text

    from api.deps import SessionReleasingRoute
    from api.main import create_app

    app = create_app()
    router = APIRouter(prefix="/bench", route_class=SessionReleasingRoute)

    @router.get("/constant")
    def constant() -> dict:
        return {"ok": True}

    @router.get("/select1")
    def select1(session: SessionDep) -> dict:
        return {"ok": session.execute(text("SELECT 1")).scalar_one() == 1}

    app.include_router(router)
    return app


# ------------------------------------------------------------------------------ load generator


async def _client(host: str, port: int, path: str, stop: float, latencies: list[float], errors: list[str]):
    request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: application/json\r\n\r\n".encode()
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError as exc:
        errors.append(type(exc).__name__)
        return
    try:
        while time.monotonic() < stop:
            started = time.monotonic()
            writer.write(request)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=30)
            status = int(head.split(b" ", 2)[1])
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:"))
            await reader.readexactly(length)
            if status != 200:
                errors.append(str(status))
            else:
                latencies.append(time.monotonic() - started)
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError, StopIteration) as exc:
        errors.append(type(exc).__name__)
    finally:
        writer.close()


async def _load(host: str, port: int, path: str, clients: int, seconds: float) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    started = time.monotonic()
    stop = started + seconds
    await asyncio.gather(*(_client(host, port, path, stop, latencies, errors) for _ in range(clients)))
    wall = time.monotonic() - started
    lat = sorted(latencies)
    return {"ok": len(lat), "errors": len(errors), "wall": wall, "rps": len(lat) / wall,
            "p50_ms": 1000 * lat[len(lat) // 2] if lat else None,
            "p99_ms": 1000 * lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else None}


def load_main(argv: list[str]) -> None:
    """``python -m benchmarks.bench_api load PORT PATH CLIENTS SECONDS``: prints one JSON line."""
    port, path, clients, seconds = int(argv[0]), argv[1], int(argv[2]), float(argv[3])
    print(json.dumps(asyncio.run(_load("127.0.0.1", port, path, clients, seconds))))


# ------------------------------------------------------------------------------ driver


def _serve(url: str, workers: int) -> tuple[subprocess.Popen, int]:
    from benchmarks.seed import start_api

    proc, base = start_api("benchmarks.bench_api:baseline_app", url, probe="/bench/select1",
                           extra=("--factory", "--workers", str(workers)))
    return proc, int(base.rsplit(":", 1)[1])


def _measure(port: int, path: str, clients: int, seconds: float) -> dict:
    out = subprocess.run([sys.executable, "-m", "benchmarks.bench_api", "load", str(port), path, str(clients),
                          str(seconds)], cwd=ROOT, capture_output=True, text=True, timeout=seconds + 120)
    if out.returncode != 0:
        raise RuntimeError(f"load generator failed: {out.stderr[-500:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(url: str, seconds: float, workers_list=(1, 2)) -> list[dict]:
    rows = []
    for workers in workers_list:
        proc, port = _serve(url, workers)
        try:
            for clients in CLIENTS:
                _measure(port, ROUTES["decisions"], clients, 1.0)  # warm every worker and connection
                for name, path in ROUTES.items():
                    rows.append({"workers": workers, "clients": clients, "route": name,
                                 **_measure(port, path, clients, seconds)})
        finally:
            proc.terminate()
            proc.wait(30)
    return rows


def _fmt(v, spec: str) -> str:
    return "—" if v is None else format(v, spec)


def report(rows: list[dict], decisions: int) -> None:
    print(f"API load ({decisions} decisions; one uvicorn process per row group; "
          f"ratio = req/s ÷ /bench/select1 at the same clients and workers)")
    print(f"{'workers':>7} {'clients':>7} {'route':<10} {'req/s':>8} {'ratio':>6} {'p50 ms':>7} {'p99 ms':>8} "
          f"{'errors':>6}")
    base = {(r["workers"], r["clients"]): r["rps"] for r in rows if r["route"] == "select1"}
    for r in rows:
        ratio = r["rps"] / base[(r["workers"], r["clients"])] if base[(r["workers"], r["clients"])] else None
        print(f"{r['workers']:>7} {r['clients']:>7} {r['route']:<10} {r['rps']:>8.0f} {_fmt(ratio, '.2f'):>6} "
              f"{_fmt(r['p50_ms'], '.1f'):>7} {_fmt(r['p99_ms'], '.1f'):>8} {r['errors']:>6}")


def main(argv: list[str]) -> int:
    if argv[:1] == ["load"]:
        load_main(argv[1:])
        return 0
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_api")
    parser.add_argument("--seconds", type=float, default=4.0, help="load per row (default 4)")
    parser.add_argument("--decisions", type=int, default=24, help="decisions in the table (default 24)")
    args = parser.parse_args(argv)
    from benchmarks.seed import copy_decisions, scratch_database, seed_real_decision

    with scratch_database() as url:
        seed_real_decision(url)
        total = copy_decisions(url, args.decisions)
        report(run(url, args.seconds), total)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
