"""``zkp run``: the whole system on one machine, stopped by one Ctrl-C.

Order matters: PostgreSQL first (embedded unless ``DATABASE_URL`` is set),
then migrations, then one materialization of the latest complete hour so the
UI and the API have something to show, then the Dagster UI + daemon
(``dagster dev``) and the API. Children run in their own process groups with
SIGINT reset to its default (a shell's ``&`` makes them inherit "ignore"), so
shutting down means signalling each whole group, then stopping PostgreSQL.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from zk_pipeline.cli.output import fail
from zk_pipeline.db.urls import redact, with_psycopg2

REPO = Path(__file__).resolve().parents[2]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="start PostgreSQL, materialize the latest hour, serve the Dagster UI and the API")
    p.add_argument("--dagster-port", type=int, default=int(os.environ.get("ZKP_DAGSTER_PORT", "3000")))
    p.add_argument("--api-port", type=int, default=int(os.environ.get("ZKP_API_PORT", "8000")))
    p.add_argument("--no-serve", action="store_true", help="stop after the first materialization")
    p.set_defaults(func=run)


def prepare_environment(data_dir: Path) -> object | None:
    """Start the embedded server if needed and export the URLs every child reads."""
    server = None
    if not os.environ.get("DATABASE_URL"):
        from zk_pipeline.db import embedded

        server, url = embedded.start(data_dir / "pg", cleanup="stop")
        os.environ["DATABASE_URL"] = with_psycopg2(url)
        print(f"[zkp] embedded PostgreSQL 16 running in {data_dir / 'pg'}", flush=True)
    else:
        print(f"[zkp] using DATABASE_URL={redact(os.environ['DATABASE_URL'])}", flush=True)
    os.environ["DAGSTER_PG_URL"] = with_psycopg2(os.environ["DATABASE_URL"])
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(data_dir / "dagster_home")))
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    if target.resolve() != (REPO / "dagster.yaml").resolve():
        target.write_text((REPO / "dagster.yaml").read_text())
    return server


def materialize_latest_hour() -> str:
    from dagster import DagsterInstance

    from zk_pipeline.db import repository
    from zk_pipeline.db.migrate import upgrade
    from zk_pipeline.db.session import session_scope
    from zk_pipeline.definitions import defs

    upgrade()
    with session_scope() as s:
        repository.sync_model_registry(s)
    hour = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    key = hour.strftime("%Y-%m-%d-%H:%M")
    from zk_pipeline.stark.fvec import BACKEND

    if BACKEND != "native":  # forced, or the extension did not build (no C compiler at install time)
        print("[zkp] the built-in prover runs on its pure-Python field backend, ~8x slower; the native one "
              "needs zk_pipeline/stark/_felt.c built (a C compiler at install) and ZKP_FIELD_BACKEND unset",
              flush=True)
    started = time.monotonic()
    with DagsterInstance.get() as instance:
        result = defs.resolve_job_def("allocation_job").execute_in_process(partition_key=key, instance=instance)
    print(f"[zkp] materialized partition {key} in {time.monotonic() - started:.1f}s (run {result.run_id})", flush=True)
    return key


def _spawn(cmd: list[str]) -> subprocess.Popen:
    def child_setup() -> None:
        os.setsid()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)

    return subprocess.Popen(cmd, cwd=REPO, preexec_fn=child_setup)


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _stop(children: list[subprocess.Popen], grace: float = 15.0) -> None:
    """SIGTERM each child's group, wait, then SIGKILL whatever is left.

    Dagster starts run workers in process groups of their own, so the
    descendants are listed *before* signalling (once a parent dies its
    children are re-parented and can no longer be found).
    """
    import psutil

    descendants = []
    for proc in children:
        try:
            descendants += psutil.Process(proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            pass
    for proc in children:
        _signal_group(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for proc in children:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
    _, alive = psutil.wait_procs(descendants, timeout=max(0.1, deadline - time.monotonic()))
    for proc in children:
        _signal_group(proc.pid, signal.SIGKILL)
        proc.wait()
    for p in alive:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _install_interrupt_handlers() -> None:
    """Ctrl-C and SIGTERM both mean "shut down in order", even when started with ``&``.

    A process started in the background by a non-interactive shell inherits
    "ignore SIGINT"; installing handlers explicitly undoes that.
    """
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)


def run(args: argparse.Namespace) -> int:
    data_dir = Path(os.environ.get("ZKP_DATA_DIR", REPO / ".data")).resolve()
    try:
        server = prepare_environment(data_dir)
    except RuntimeError as exc:
        return fail(str(exc))
    children: list[subprocess.Popen] = []
    _install_interrupt_handlers()
    try:
        materialize_latest_hour()
        if args.no_serve:
            return 0
        _install_interrupt_handlers()  # Dagster's in-process execution restores the handlers it found
        bin_dir = Path(sys.executable).parent
        # The API launches orchestration runs through this webserver's GraphQL API.
        os.environ.setdefault("DAGSTER_GRAPHQL_URL", f"http://127.0.0.1:{args.dagster_port}/graphql")
        children.append(_spawn([str(bin_dir / "dagster"), "dev", "-w", str(REPO / "workspace.yaml"),
                                "-h", "127.0.0.1", "-p", str(args.dagster_port)]))
        children.append(_spawn([str(bin_dir / "uvicorn"), "api.main:app", "--host", "127.0.0.1",
                                "--port", str(args.api_port)]))
        print(
            f"\n[zkp] Dagster UI: http://127.0.0.1:{args.dagster_port}  (ready after ~15 s)\n"
            f"[zkp] API:       http://127.0.0.1:{args.api_port}/docs\n"
            f"[zkp] Ctrl-C stops everything, PostgreSQL included.\n",
            flush=True,
        )
        while all(c.poll() is None for c in children):
            time.sleep(0.5)
        dead = [c.args[1] if len(c.args) > 1 else c.args[0] for c in children if c.poll() is not None]
        return fail(f"a service exited unexpectedly: {dead}", code=1)
    except KeyboardInterrupt:
        print("\n[zkp] stopping…", flush=True)
        return 0
    finally:
        _stop(children)
        if server is not None:
            server.cleanup()
            print("[zkp] PostgreSQL stopped", flush=True)
