"""Pipeline benchmark: model evaluation and one full-graph materialization.

``python -m benchmarks.bench_pipeline`` (or ``make bench``). Starts its own
embedded PostgreSQL in a temporary directory (or uses ``DATABASE_URL``).
"""

from __future__ import annotations

import os
import statistics
import time
from datetime import datetime, timezone


def _timeit(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    from zk_pipeline.risk.series import build_statement
    from zk_pipeline.risk.registry import get_version
    from zk_pipeline.sources.base import Window
    from zk_pipeline.sources.quality import validate
    from zk_pipeline.sources.replay import ReplaySource

    hour = datetime(2026, 11, 26, 22, tzinfo=timezone.utc)
    model = get_version()
    w = Window(hour, model.params.volatility_window_hours)
    src = ReplaySource()
    src.frame()
    fetch = _timeit(lambda: src.fetch(w))
    raw = src.fetch(w)
    quality = _timeit(lambda: validate(raw, w))
    clean = validate(raw, w).clean
    statement = build_statement(clean, hour, model)
    evaluate = _timeit(statement.evaluate, repeat=20)

    rows = [("replay fetch (720 h x 2 pools)", fetch), ("quality rules + fixed point", quality),
            ("model evaluate (features, risk, allocation)", evaluate)]

    from dagster import instance_for_test

    from zk_pipeline.db import repository
    from zk_pipeline.db.migrate import upgrade
    from zk_pipeline.db.session import session_scope
    from zk_pipeline.definitions import defs

    from benchmarks.seed import scratch_database

    with scratch_database() as url:
        os.environ["DATABASE_URL"] = url
        upgrade(url)
        with session_scope(url) as s:
            repository.sync_model_registry(s)
        job = defs.resolve_job_def("allocation_job")
        with instance_for_test(overrides={"storage": {"postgres": {"postgres_url": url}}}) as inst:
            times = []
            for key in ("2026-11-20-10:00", "2026-11-20-11:00", "2026-11-20-10:00"):
                t = time.perf_counter()
                assert job.execute_in_process(partition_key=key, instance=inst).success
                times.append(time.perf_counter() - t)
        rows.append(("full graph, first partition (in-process)", times[0]))
        rows.append(("full graph, next partition", times[1]))
        rows.append(("full graph, re-materialization", times[2]))

    print(f"{'pipeline step':<48}{'seconds':>10}")
    for name, secs in rows:
        print(f"{name:<48}{secs:>10.3f}")


if __name__ == "__main__":
    main()
