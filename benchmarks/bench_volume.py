"""Data volume at a year of history, and the API's list and detail endpoints at that size.

``python -m benchmarks.bench_volume [--requests N]`` or ``python -m benchmarks volume`` (part of
``make bench``).

A scratch PostgreSQL (embedded, or ``DATABASE_URL``; ``benchmarks/seed.py``) gets one real
decision from a real materialization, then in set-based SQL: a year (8,760 hours) of
``protocol_metrics`` for the pools the pipeline reads, and 1,000 then 10,000 hourly decisions,
each with its proposal, risk features and scores, and a proof of its own (job, attempt, verified
fact, and proof bytes of the real proof's size: the real proof's bytes with the hour written
over its first 8, ``seed.copy_proofs``). At each size it prints rows, table size (heap plus
TOAST), index size and total for every table, then p50/p95 latencies of the endpoints, measured
one request at a time (keep-alive) against real API processes on 127.0.0.1, and the ratio of
the 10k latency to the 1k one. Each size has its own database and API process, and the two are
asked in turn, so that the load of whatever else the machine runs falls on both alike. "Page 50" is at 20 decisions a page (decisions 981-1,000, so it
exists at both sizes); the cursor page's cursor is found by walking 49 pages first.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text

YEAR_HOURS = 8_760
SIZES = (1_000, 10_000)
PAGE = 20
DEEP_PAGE = 50
LIST = "/api/v1/risk-engine/decisions"

#: (label, how the request is made): each ``kind`` is filled in by :func:`_targets`.
ENDPOINTS = (
    ("list, first page (counts total)", "first"),
    ("list, first page, include_total=false", "first_no_total"),
    (f"list, page {DEEP_PAGE} by offset (counts total)", "offset"),
    (f"list, page {DEEP_PAGE} by cursor", "cursor"),
    ("list, last page by offset (counts total)", "last_offset"),
    ("list, last page by cursor", "last_cursor"),
    ("decision detail", "decision"),
    ("proof job detail", "job"),
    ("proof download", "proof"),
)


def seed(url: str, decisions: int) -> tuple[float, float]:
    """Grow the database to ``decisions`` decisions (and a year of metrics); returns the seconds taken in
    all and by the proofs (their bytes are most of the volume)."""
    from benchmarks.seed import copy_decisions, copy_hours, copy_proofs

    started = time.perf_counter()
    copy_hours(url, "protocol_metrics", YEAR_HOURS)
    copy_decisions(url, decisions)
    copy_hours(url, "risk_features", decisions)
    copy_hours(url, "risk_scores", decisions)
    proofs_started = time.perf_counter()
    copy_proofs(url)
    proofs = time.perf_counter() - proofs_started
    _vacuum(url)
    return time.perf_counter() - started, proofs


def _vacuum(url: str) -> None:
    """What autovacuum would have done by then: statistics and visibility maps up to date."""
    from sqlalchemy import create_engine

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as c:
            c.execute(text("VACUUM ANALYZE"))
    finally:
        engine.dispose()


def volume(url: str) -> list[dict]:
    """Rows and sizes (bytes) of every table of the app's schema."""
    from zk_pipeline.db.session import get_engine

    with get_engine(url).connect() as c:
        tables = c.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'zkp' AND tablename <> "
                                "'alembic_version' ORDER BY tablename")).scalars().all()
        rows = []
        for t in tables:
            rows.append(c.execute(text(
                f"SELECT '{t}' AS name, (SELECT count(*) FROM zkp.{t}) AS rows, "
                f"pg_table_size('zkp.{t}') AS table_bytes, pg_indexes_size('zkp.{t}') AS index_bytes, "
                f"pg_total_relation_size('zkp.{t}') AS total_bytes")).mappings().one())
    return [dict(r) for r in rows]


def _targets(http, url: str) -> dict[str, list[tuple[str, dict]]]:
    """Requests per endpoint kind; detail requests rotate over 50 decisions spread across the history."""
    from zk_pipeline.db.session import get_engine

    last = _last_page(url)
    with get_engine(url).connect() as c:
        sample = c.execute(text(
            "SELECT decision_id, proof_job_id FROM (SELECT decision_id, proof_job_id, "
            "row_number() OVER (ORDER BY timestamp DESC) AS i, count(*) OVER () AS n "
            "FROM zkp.allocation_decisions) d WHERE i % greatest(n / 50, 1) = 0")).all()
    cursor = None
    for _ in range(DEEP_PAGE - 1):
        cursor = http.get(LIST, params={"limit": PAGE, **({"cursor": cursor} if cursor else {})}).json()["next_cursor"]
    return {
        "first": [(LIST, {"limit": PAGE})],
        "first_no_total": [(LIST, {"limit": PAGE, "include_total": "false"})],
        "offset": [(LIST, {"limit": PAGE, "offset": (DEEP_PAGE - 1) * PAGE})],
        "cursor": [(LIST, {"limit": PAGE, "cursor": cursor})],
        "last_offset": [(LIST, {"limit": PAGE, "offset": last["offset"]})],
        "last_cursor": [(LIST, {"limit": PAGE, "cursor": last["cursor"]})],
        "decision": [(f"/api/v1/risk-engine/decision/{d}", {}) for d, _ in sample],
        "job": [(f"/api/v1/proofs/{j}", {}) for _, j in sample],
        "proof": [(f"/api/v1/proofs/{j}/proof", {}) for _, j in sample],
    }


def _position(c, k: int) -> tuple:
    """(timestamp, decision_id) of the decision at index ``k`` (0 = newest) in the list's order."""
    return tuple(c.execute(text(
        "SELECT timestamp, decision_id FROM zkp.allocation_decisions ORDER BY timestamp DESC, "
        "decision_id DESC OFFSET :k LIMIT 1"), {"k": k}).one())


def _last_page(url: str) -> dict:
    """How the last page is asked for: its offset, and the cursor a client walking every page would hold
    (the one the service makes from the decision just before the page)."""
    from zk_pipeline.db.session import get_engine
    from zk_pipeline.services.decisions import encode_cursor

    with get_engine(url).connect() as c:
        n = c.execute(text("SELECT count(*) FROM zkp.allocation_decisions")).scalar_one()
        after = _position(c, n - PAGE - 1)
    return {"offset": n - PAGE, "cursor": encode_cursor(*after), "after": after}


def query_times(url: str, runs: int = 30) -> dict[str, float]:
    """Median execution time (ms, ``EXPLAIN ANALYZE``) inside PostgreSQL of the list's statements: the
    part of each request that depends on the history's length, without HTTP and Python around it."""
    from sqlalchemy import func, select

    from zk_pipeline.db.models import AllocationDecision
    from zk_pipeline.db.session import get_engine
    from zk_pipeline.services.decisions import page_query

    last = _last_page(url)
    deep = (DEEP_PAGE - 1) * PAGE
    with get_engine(url).connect() as c:
        after_deep = _position(c, deep - 1)
        statements = {
            "count (total)": select(func.count()).select_from(AllocationDecision),
            "first page": page_query(PAGE + 1),
            f"page {DEEP_PAGE} by offset": page_query(PAGE + 1, offset=deep),
            f"page {DEEP_PAGE} by cursor": page_query(PAGE + 1, after=after_deep),
            "last page by offset": page_query(PAGE + 1, offset=last["offset"]),
            "last page by cursor": page_query(PAGE + 1, after=last["after"]),
        }
        out = {}
        for name, statement in statements.items():
            compiled = statement.compile(c.engine)
            times = []
            for _ in range(runs):
                plan = c.exec_driver_sql("EXPLAIN (ANALYZE, FORMAT JSON) " + compiled.string,
                                         compiled.params).scalar_one()
                times.append(plan[0]["Execution Time"])
            out[name] = sorted(times)[runs // 2]
    return out


def latencies(bases: dict[int, str], urls: dict[int, str], requests: int) -> dict[int, dict[str, dict]]:
    """p50/p95 (ms) per size and endpoint kind. The sizes are served by two API processes and asked in
    turn, request by request, so that a change in the machine's load touches both alike; ``requests // 10``
    warm-up requests first."""
    import httpx

    out: dict[int, dict[str, dict]] = {n: {} for n in bases}
    clients = {n: httpx.Client(base_url=base, timeout=30) for n, base in bases.items()}
    try:
        targets = {n: _targets(clients[n], urls[n]) for n in bases}
        for _, kind in ENDPOINTS:
            times: dict[int, list[float]] = {n: [] for n in bases}
            for i in range(requests // 10 + requests):
                for n in (sorted(bases) if i % 2 else sorted(bases, reverse=True)):
                    path, params = targets[n][kind][i % len(targets[n][kind])]
                    started = time.perf_counter()
                    r = clients[n].get(path, params=params)
                    elapsed = time.perf_counter() - started
                    if r.status_code != 200:
                        raise RuntimeError(f"{path} {params} answered {r.status_code}: {r.text[:200]}")
                    if kind in ("cursor", "last_cursor", "last_offset") and len(r.json()["items"]) != PAGE:
                        raise RuntimeError(f"{kind} is not a full page at {n} decisions")
                    if i >= requests // 10:
                        times[n].append(elapsed)
            for n, ts in times.items():
                ts.sort()
                out[n][kind] = {"p50": 1000 * ts[len(ts) // 2], "p95": 1000 * ts[int(len(ts) * 0.95) - 1]}
    finally:
        for http in clients.values():
            http.close()
    return out


@contextmanager
def databases(server_url: str, sizes: tuple[int, ...]) -> Iterator[dict[int, tuple[str, tuple[float, float]]]]:
    """One new database per size on the scratch server (never the one ``DATABASE_URL`` names), dropped
    afterwards: the smallest is seeded from a real decision, each larger one starts as a copy of the one
    before (``CREATE DATABASE ... TEMPLATE``) and grows from there. Yields each size's URL and
    :func:`seed`'s seconds."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    from benchmarks.seed import seed_real_decision
    from zk_pipeline.db.session import get_engine

    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    names = {n: f"zkp_volume_{n}" for n in sizes}
    urls = {n: make_url(server_url).set(database=name).render_as_string(hide_password=False)
            for n, name in names.items()}
    seeded = {}
    try:
        previous = None
        for n in sizes:
            with admin.connect() as c:
                c.execute(text(f"DROP DATABASE IF EXISTS {names[n]} WITH (FORCE)"))
                if previous is None:
                    c.execute(text(f"CREATE DATABASE {names[n]}"))
                else:
                    # A copy needs its template idle: this process's pools (and the seed run's) let go of it.
                    get_engine(urls[previous]).dispose()
                    c.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d"),
                              {"d": names[previous]})
                    c.execute(text(f"CREATE DATABASE {names[n]} TEMPLATE {names[previous]}"))
            if previous is None:
                seed_real_decision(urls[n])
            previous = n
            seeded[n] = urls[n], seed(urls[n], n)
        yield seeded
    finally:
        for n in sizes:
            get_engine(urls[n]).dispose()
        with admin.connect() as c:
            for name in names.values():
                c.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


def _size(n: int) -> str:
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def report_volume(sizes: dict[int, list[dict]], seconds: dict[int, tuple[float, float]]) -> None:
    print(f"Data volume ({YEAR_HOURS:,} hours of protocol_metrics; decisions one per hour back from the real one; "
          f"table = heap + TOAST)")
    print(f"{'decisions':>9} {'table':<24} {'rows':>9} {'table size':>11} {'indexes':>9} {'total':>10}")
    for n, rows in sizes.items():
        for r in rows:
            print(f"{n:>9,} {r['name']:<24} {r['rows']:>9,} {_size(r['table_bytes']):>11} "
                  f"{_size(r['index_bytes']):>9} {_size(r['total_bytes']):>10}")
        total = sum(r["total_bytes"] for r in rows)
        took, proofs = seconds[n]
        print(f"{n:>9,} {'(all tables)':<24} {'':>9} {'':>11} {'':>9} {_size(total):>10}   "
              f"seeded in {took:.1f} s ({proofs:.1f} s of it the proofs)")


def report_latency(times: dict[int, dict[str, dict]], requests: int) -> None:
    small, big = SIZES
    print(f"\nEndpoint latency ({requests} requests per endpoint and size, one at a time, keep-alive, the sizes "
          f"asked in turn from two uvicorn processes on 127.0.0.1; {PAGE} decisions a page; ms)")
    print(f"{'endpoint':<42} {'1k p50':>7} {'1k p95':>7} {'10k p50':>8} {'10k p95':>8} {'10k/1k p50':>10}")
    for label, kind in ENDPOINTS:
        a, b = times[small][kind], times[big][kind]
        print(f"{label:<42} {a['p50']:>7.1f} {a['p95']:>7.1f} {b['p50']:>8.1f} {b['p95']:>8.1f} "
              f"{b['p50'] / a['p50']:>10.2f}")


def report_queries(queries: dict[int, dict[str, float]]) -> None:
    small, big = SIZES
    print("\nInside PostgreSQL (median EXPLAIN ANALYZE execution time of the list's statements; ms)")
    print(f"{'statement':<42} {'1k':>7} {'10k':>8} {'10k/1k':>7}")
    for name in queries[small]:
        a, b = queries[small][name], queries[big][name]
        print(f"{name:<42} {a:>7.3f} {b:>8.3f} {b / a:>7.2f}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_volume")
    parser.add_argument("--requests", type=int, default=200,
                        help="measured requests per endpoint and size (default 200)")
    args = parser.parse_args(argv)
    from benchmarks.seed import scratch_database, start_api

    with scratch_database() as server_url, databases(server_url, SIZES) as seeded:
        urls = {n: url for n, (url, _) in seeded.items()}
        sizes = {n: volume(url) for n, url in urls.items()}
        queries = {n: query_times(url) for n, url in urls.items()}
        servers = {}
        try:
            for n, url in urls.items():
                servers[n] = start_api("api.main:app", url)
            times = latencies({n: base for n, (_, base) in servers.items()}, urls, args.requests)
        finally:
            for proc, _ in servers.values():
                proc.terminate()
                proc.wait(30)
    report_volume(sizes, {n: took for n, (_, took) in seeded.items()})
    report_latency(times, args.requests)
    report_queries(queries)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
