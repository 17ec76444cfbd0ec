"""A database and an API for the benchmarks and the API fuzzer, and data in it.

``scratch_database`` gives a PostgreSQL URL (``DATABASE_URL``, else an embedded
server in a temporary directory); ``start_api`` serves an app with uvicorn on
127.0.0.1 and waits until it answers. Data: one real decision, then as many
copies as asked.

The first decision comes from a real in-process materialization of the asset
graph (its proof is real and verified). Copies are made in SQL, one hour
apart going back in time, each with its own proposal row, so that list and
detail queries meet a table of the size asked for. For data volume, the
hourly tables (metrics, features, scores) are copied back over as many hours,
and each copied decision can get a proof of its own (job, bytes, attempt,
facts) like the pipeline records for every hour.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text

ROOT = Path(__file__).resolve().parents[1]

#: The hour of the real decision; copies go back from it.
PARTITION = "2026-11-20-10:00"


def seed_real_decision(url: str) -> None:
    """Migrate ``url``, sync the model registry and materialize one hour of the graph into it."""
    from dagster import instance_for_test, materialize

    from zk_pipeline.db import repository
    from zk_pipeline.db.migrate import upgrade
    from zk_pipeline.db.session import session_scope
    from zk_pipeline.definitions import all_assets, defs

    upgrade(url)
    with session_scope(url) as s:
        repository.sync_model_registry(s)
    os.environ["DATABASE_URL"] = url  # the shipped resources read it
    with instance_for_test() as instance:
        result = materialize(all_assets, partition_key=PARTITION, resources=defs.resources, instance=instance,
                             run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}})
    if not result.success:
        raise RuntimeError("the seed materialization failed")


def copy_decisions(url: str, total: int) -> int:
    """Copies of the newest decision (and its proposal) until there are ``total`` decisions."""
    from zk_pipeline.db.session import get_engine

    with get_engine(url).begin() as c:
        have = c.execute(text("SELECT count(*) FROM zkp.allocation_decisions")).scalar_one()
        missing = max(0, total - have)
        if not missing:
            return have
        c.execute(text("""
            WITH src AS (SELECT d.*, p.statement, p.hour AS p_hour
                         FROM zkp.allocation_decisions d JOIN zkp.allocation_proposals p ON p.id = d.proposal_id
                         ORDER BY d.timestamp DESC LIMIT 1),
                 n AS (SELECT generate_series(1, :missing) + :offset AS i),
                 props AS (
                   INSERT INTO zkp.allocation_proposals (hour, model_version, model_hash, jediswap_pct, ekubo_pct,
                                                         jediswap_risk, ekubo_risk, statement_hash, statement)
                   SELECT src.p_hour - make_interval(hours => n.i::int), src.model_version, src.model_hash,
                          src.jediswap_pct, src.ekubo_pct, src.jediswap_risk, src.ekubo_risk,
                          md5(src.p_hour::text || n.i::text), src.statement
                   FROM src, n
                   RETURNING id, hour)
            INSERT INTO zkp.allocation_decisions (decision_id, jediswap_pct, ekubo_pct, jediswap_risk, ekubo_risk,
                                                  timestamp, proof_job_id, model_version, model_hash, proposal_id)
            SELECT gen_random_uuid()::text, src.jediswap_pct, src.ekubo_pct, src.jediswap_risk, src.ekubo_risk,
                   props.hour, src.proof_job_id, src.model_version, src.model_hash, props.id
            FROM src, props
        """), {"missing": missing, "offset": have})
        return c.execute(text("SELECT count(*) FROM zkp.allocation_decisions")).scalar_one()


def copy_hours(url: str, table: str, hours: int) -> int:
    """Rows of ``table`` (keyed by its ``hour``) for ``hours`` hours back from its newest hour: the newest
    hour's rows, copied to every earlier hour (rows already there are kept: the tables' unique keys).
    Returns the table's row count."""
    from zk_pipeline.db.models import Base
    from zk_pipeline.db.session import get_engine

    columns = [c.name for c in Base.metadata.tables[f"zkp.{table}"].columns
               if not (c.primary_key and c.autoincrement is not False)]
    values = ", ".join("src.hour - make_interval(hours => n.i)" if c == "hour" else f"src.{c}" for c in columns)
    with get_engine(url).begin() as c:
        c.execute(text(f"""
            INSERT INTO zkp.{table} ({", ".join(columns)})
            SELECT {values}
            FROM (SELECT * FROM zkp.{table} WHERE hour = (SELECT max(hour) FROM zkp.{table})) src,
                 generate_series(1, :hours - 1) AS n(i)
            ON CONFLICT DO NOTHING"""), {"hours": hours})
        return c.execute(text(f"SELECT count(*) FROM zkp.{table}")).scalar_one()


def copy_proofs(url: str) -> int:
    """Each decision that shares the real decision's proof job gets a job of its own: the job row (its
    statement included), its attempts, its verified facts, and proof bytes of the real size. The bytes are
    the real proof's with its first 8 bytes replaced by the decision's hour (Unix seconds), so every blob is
    distinct and stored under its own SHA-256, as content addressing requires. Returns how many were made."""
    from zk_pipeline.db.session import get_engine

    job_columns = ("status, statement, model_version, model_hash, origin, run_id, source, program_hash, "
                   "output_hash, l2_fact_hash, l2_verified_at, generated_at, proof_size, generation_time_ms, "
                   "verification_time_ms, security_bits, attempts, last_error, details, created_at, updated_at")
    with get_engine(url).begin() as c:
        c.execute(text("""
            CREATE TEMP TABLE new_proofs ON COMMIT DROP AS
            WITH real AS (SELECT d.decision_id, d.proof_job_id, j.proof_hash
                          FROM zkp.allocation_decisions d JOIN zkp.proof_jobs j ON j.id = d.proof_job_id
                          ORDER BY d.timestamp DESC LIMIT 1)
            SELECT d.decision_id, d.timestamp, real.proof_job_id AS src_job, gen_random_uuid()::text AS job_id,
                   int8send(extract(epoch FROM d.timestamp)::bigint) AS stamp,
                   encode(sha256(overlay(b.data PLACING int8send(extract(epoch FROM d.timestamp)::bigint)
                                         FROM 1 FOR 8)), 'hex') AS proof_hash
            FROM real JOIN zkp.proof_blobs b ON b.proof_hash = real.proof_hash
                 JOIN zkp.allocation_decisions d ON d.proof_job_id = real.proof_job_id
                                                 AND d.decision_id <> real.decision_id"""))
        made = c.execute(text("SELECT count(*) FROM new_proofs")).scalar_one()
        c.execute(text("""
            INSERT INTO zkp.proof_blobs (proof_hash, data, size, created_at)
            SELECT n.proof_hash, overlay(b.data PLACING n.stamp FROM 1 FOR 8), b.size, b.created_at
            FROM new_proofs n JOIN zkp.proof_jobs j ON j.id = n.src_job JOIN zkp.proof_blobs b
                 ON b.proof_hash = j.proof_hash"""))
        c.execute(text(f"""
            INSERT INTO zkp.proof_jobs (id, statement_hash, hour, proof_hash, fact_hash, {job_columns})
            SELECT n.job_id, encode(sha256(convert_to(n.timestamp::text, 'UTF8')), 'hex'), n.timestamp,
                   n.proof_hash, '0x' || n.proof_hash, {", ".join("j." + col for col in job_columns.split(", "))}
            FROM new_proofs n JOIN zkp.proof_jobs j ON j.id = n.src_job"""))
        c.execute(text("""
            INSERT INTO zkp.proof_attempts (job_id, backend, attempt, outcome, error, started_at, finished_at,
                                            duration_ms)
            SELECT n.job_id, a.backend, a.attempt, a.outcome, a.error, a.started_at, a.finished_at, a.duration_ms
            FROM new_proofs n JOIN zkp.proof_attempts a ON a.job_id = n.src_job"""))
        c.execute(text("""
            INSERT INTO zkp.verified_facts (fact_hash, program_hash, output_hash, verification_hash, security_bits,
                                            verifier, proof_job_id, verified_at)
            SELECT '0x' || n.proof_hash, f.program_hash, f.output_hash, f.verification_hash, f.security_bits,
                   f.verifier, n.job_id, f.verified_at
            FROM new_proofs n JOIN zkp.verified_facts f ON f.proof_job_id = n.src_job"""))
        c.execute(text("UPDATE zkp.allocation_decisions d SET proof_job_id = n.job_id FROM new_proofs n "
                       "WHERE d.decision_id = n.decision_id"))
    return made


@contextmanager
def scratch_database() -> Iterator[str]:
    """``DATABASE_URL`` if set, else an embedded PostgreSQL deleted afterwards; a psycopg2 URL either way."""
    from zk_pipeline.db.urls import with_psycopg2

    with tempfile.TemporaryDirectory(prefix="zkp-bench-") as tmp:
        url = os.environ.get("DATABASE_URL")
        server = None
        if not url:
            from zk_pipeline.db import embedded

            server, url = embedded.start(Path(tmp) / "pg", cleanup="delete")
        try:
            yield with_psycopg2(url)
        finally:
            if server is not None:
                server.cleanup()


def start_api(app: str, url: str, probe: str = "/api/v1/health", extra: tuple[str, ...] = (),
              seconds: float = 90) -> tuple[subprocess.Popen, str]:
    """``uvicorn APP`` on a free port of 127.0.0.1 with ``DATABASE_URL=url``; returns (process, base URL)
    once ``probe`` answers 200."""
    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", app, *extra, "--host", "127.0.0.1", "--port", str(port),
                             "--log-level", "warning"], cwd=ROOT, env={**os.environ, "DATABASE_URL": url})
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + seconds
    while True:
        try:
            if httpx.get(base + probe, timeout=2).status_code == 200:
                return proc, base
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"{app} did not answer {probe}")
        time.sleep(0.2)
