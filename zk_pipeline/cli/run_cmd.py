"""``zkp run``: the whole system on one machine, stopped by one Ctrl-C.

Order matters: PostgreSQL first (embedded unless ``DATABASE_URL`` is set),
then migrations, then one materialization of the latest complete hour so the
UI and the API have something to show, then the Dagster UI + daemon
(``dg dev``) and the API. Children run in their own process groups with
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
from pathlib import Path

from zk_pipeline.cli.failure_summary import summarize_failed_run
from zk_pipeline.cli.output import fail
from zk_pipeline.db.urls import with_psycopg2
from zk_pipeline.hours import latest_complete_key
from zk_pipeline.redaction import public_text
from zk_pipeline.settings import export, get_settings, process_environment

REPO = Path(__file__).resolve().parents[2]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="start PostgreSQL, materialize the latest hour, serve the Dagster UI and the API")
    p.add_argument("--dagster-port", type=int, default=None, help="default: ZKP_DAGSTER_PORT, else 3000")
    p.add_argument("--api-port", type=int, default=None, help="default: ZKP_API_PORT, else 8000")
    p.add_argument("--no-serve", action="store_true", help="stop after the first materialization")
    p.set_defaults(func=run)


def prepare_environment(data_dir: Path) -> object | None:
    """Start the embedded server if needed and export the URLs every child reads.

    Exported into this process's environment, not only the children's: the first materialization runs
    here, and Dagster's ``EnvVar`` resources and ``DagsterInstance.get()`` read the environment.
    """
    from zk_pipeline.assets.partition_start import pin_start

    settings = get_settings()
    try:
        # Before anything loads the definitions: the partitions begin at this data folder's first run.
        exports = {"ZKP_PARTITIONS_START": pin_start(data_dir / "partitions_start")}
    except ValueError as exc:
        raise RuntimeError(str(exc)) from None
    server = None
    if settings.database.url is None:
        from zk_pipeline.db import embedded

        server, url = embedded.start(data_dir / "pg", cleanup="stop")
        database = exports["DATABASE_URL"] = with_psycopg2(url)
        print(f"[zkp] embedded PostgreSQL 16 running in {data_dir / 'pg'}", flush=True)
    else:
        database = settings.database.url.get_secret_value()
        print(f"[zkp] using DATABASE_URL={public_text(database)}", flush=True)
    exports["DAGSTER_PG_URL"] = with_psycopg2(database)
    home = settings.dagster.home or data_dir / "dagster_home"
    exports["DAGSTER_HOME"] = str(home)
    export(exports)
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    if target.resolve() != (REPO / "deploy" / "dagster.yaml").resolve():
        target.write_text((REPO / "deploy" / "dagster.yaml").read_text())
    return server


#: The first run stays quiet on the terminal (a failure is summed up in one paragraph instead);
#: its full log is in the UI's run view.
CONSOLE_LOG_LEVEL = "CRITICAL"


def materialize_latest_hour():
    """Materialize the latest complete hour; returns (partition key, the run's result).

    A failed run does not raise: ``zkp run`` still starts the UI and the API,
    which is where the failure can be looked at.
    """
    from dagster import DagsterInstance

    from zk_pipeline.db import model_versions, repository
    from zk_pipeline.db.migrate import upgrade
    from zk_pipeline.db.session import session_scope
    from zk_pipeline.definitions import defs

    upgrade()
    with session_scope() as s:
        repository.sync_model_registry(s)
        model_versions.mark_current(s)
    key = latest_complete_key()
    from zk_pipeline.circuits.allocation import FIELD_BACKEND as BACKEND

    if BACKEND != "native":  # forced, or the extension did not build (no C compiler at install time)
        print("[zkp] the built-in prover runs on its pure-Python field backend, ~8x slower; the native one "
              "needs zk_pipeline/stark/_felt.c built (a C compiler at install) and ZKP_FIELD_BACKEND unset",
              flush=True)
    print(f"[zkp] materializing hour {key}: metrics → features → risk → allocation → proof → fact → decision",
          flush=True)
    started = time.monotonic()
    with DagsterInstance.get() as instance:
        result = defs.resolve_job_def("allocation_job").execute_in_process(
            partition_key=key, instance=instance, raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": CONSOLE_LOG_LEVEL}}}},
        )
    took = time.monotonic() - started
    if result.success:
        print(f"[zkp] materialized hour {key} in {took:.1f}s (run {result.run_id[:8]})", flush=True)
    return key, result


def _spawn(cmd: list[str], cwd: Path, log: Path) -> subprocess.Popen:
    """A service in a session of its own, its output in ``log`` (the terminal stays readable). It runs in
    this virtualenv, said so to ``dg`` (which otherwise warns that no environment is active)."""
    def child_setup() -> None:
        os.setsid()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)

    with open(log, "ab") as out:
        return subprocess.Popen(cmd, cwd=cwd, preexec_fn=child_setup, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env={**process_environment(), "VIRTUAL_ENV": sys.prefix})


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


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
    settings = get_settings()
    data_dir = (settings.run.data_dir or REPO / ".data").resolve()
    dagster_port = args.dagster_port or settings.dagster.port
    api_port = args.api_port or settings.api.port
    try:
        server = prepare_environment(data_dir)
    except RuntimeError as exc:
        return fail(str(exc))
    children: list[subprocess.Popen] = []
    _install_interrupt_handlers()
    try:
        key, result = materialize_latest_hour()
        ui = f"http://127.0.0.1:{dagster_port}"
        summary = None if result.success else summarize_failed_run(result, key, None if args.no_serve else ui)
        if args.no_serve:
            return 0 if summary is None else fail(summary, code=1)
        _install_interrupt_handlers()  # Dagster's in-process execution restores the handlers it found
        bin_dir = Path(sys.executable).parent
        logs = data_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        # `dg dev` loads the dg project of pyproject.toml ([tool.dg]); the instance is DAGSTER_HOME's.
        services = [
            ("Dagster UI + daemon", logs / "dagster.log",
             [str(bin_dir / "dg"), "dev", "--target-path", str(REPO), "--host", "127.0.0.1",
              "--port", str(dagster_port)], REPO),
            ("API", logs / "api.log",
             [str(bin_dir / "uvicorn"), "api.main:app", "--host", "127.0.0.1", "--port", str(api_port)], REPO),
        ]
        for _, log, cmd, cwd in services:
            children.append(_spawn(cmd, cwd, log))
        api = f"http://127.0.0.1:{api_port}"
        print(
            f"\n[zkp] started: PostgreSQL, the Dagster UI and daemon (hourly schedule on), the API"
            f"\n[zkp]   Dagster UI  {ui}   (answers after ~15 s; assets under \"Assets\")"
            f"\n[zkp]   API         {api}/docs"
            f"\n[zkp]   try         curl -s {api}/api/v1/risk-engine/decisions"
            f"\n[zkp]   logs        {logs}/"
            f"\n[zkp] Ctrl-C stops everything, PostgreSQL included.\n",
            flush=True,
        )
        if summary is not None:
            print(f"[zkp] {summary}\n", flush=True)
        while all(c.poll() is None for c in children):
            time.sleep(0.5)
        dead = [(name, log) for (name, log, _, _), c in zip(services, children) if c.poll() is not None]
        for name, log in dead:
            sys.stderr.write(f"[zkp] {name} exited; the end of {log}:\n{_tail(log)}\n")
        return fail(f"a service exited unexpectedly: {', '.join(name for name, _ in dead)}", code=1)
    except KeyboardInterrupt:
        print("\n[zkp] stopping…", flush=True)
        return 0
    finally:
        _stop(children)
        if server is not None:
            server.cleanup()
            print("[zkp] PostgreSQL stopped", flush=True)
