"""Launch and follow runs of ``allocation_job`` (metrics → … → decision) for one hour.

The API's ``POST /risk-engine/orchestrate-allocation`` uses this module; the
mode follows from the environment:

* ``graphql`` — ``DAGSTER_GRAPHQL_URL`` is set (``http://127.0.0.1:3000/graphql``):
  the run is submitted to that Dagster deployment with ``dagster-graphql``'s
  client, tagged ``dagster/partition=<key>``; the deployment's run coordinator
  starts it (with ``dagster dev`` / ``zkp run`` the daemon dequeues it) and its
  status is read back over GraphQL. Credentials in the URL become HTTP basic
  auth and never appear in a message. The job's own executor (in-process)
  applies.
* ``in_process`` — otherwise: one background thread of this process runs
  ``allocation_job.execute_in_process`` with a run id chosen up front, on
  ``DagsterInstance.get()`` when ``DAGSTER_HOME`` is set (the run then shows in
  the Dagster UI), else on an ephemeral in-memory instance whose runs only this
  process can see, until it exits. The run's resources are the code
  location's, so it writes to ``DATABASE_URL``. Runs are serialised (one worker
  thread); asking again for an hour whose run is still queued or running here
  returns that run.

Nothing here waits for a run to finish.
"""

from __future__ import annotations

import logging
import os
import queue
import re
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from urllib.parse import unquote, urlsplit

from zk_pipeline.db.urls import redact

log = logging.getLogger(__name__)

JOB_NAME = "allocation_job"
PARTITION_TAG = "dagster/partition"
LAUNCHED_BY_TAG = "zkp/launched_by"
PARTITION_FORMAT = "%Y-%m-%d-%H:%M"
FINISHED = frozenset({"SUCCESS", "FAILURE", "CANCELED"})
#: In-process launches remembered for status look-ups (the oldest finished ones are forgotten first).
MAX_REMEMBERED = 512


class PartitionKeyError(ValueError):
    """Not an hourly partition key of ``allocation_job``, or an hour that has not closed yet."""


class OrchestrationError(RuntimeError):
    """Dagster could not be reached or refused the request; the message is safe to show."""


class RunNotFound(LookupError):
    pass


@dataclass(frozen=True)
class Launch:
    run_id: str
    partition_key: str
    mode: str  # "graphql" | "in_process"
    instance: str  # "remote" | "dagster_home" | "ephemeral"
    already_running: bool = False
    note: str | None = None


@dataclass(frozen=True)
class RunState:
    run_id: str
    mode: str
    status: str  # a DagsterRunStatus name
    partition_key: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


def latest_complete_hour(now: datetime | None = None) -> str:
    """The partition key of the last hour that has closed (UTC)."""
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return (now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)).strftime(PARTITION_FORMAT)


def check_partition_key(key: str, now: datetime | None = None) -> str:
    """``key`` if it names a closed hour inside ``allocation_job``'s partitions."""
    from zk_pipeline.assets.partitions import PARTITIONS_START

    if not isinstance(key, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}-\d{2}:00", key):
        raise PartitionKeyError(f"partition key {str(key)[:40]!r} is not an hour like '2026-11-20-10:00' (UTC)")
    try:
        hour = datetime.strptime(key, PARTITION_FORMAT).replace(tzinfo=timezone.utc)
    except ValueError as exc:
        raise PartitionKeyError(f"partition key {key!r}: {exc}") from None
    first = datetime.strptime(PARTITIONS_START, PARTITION_FORMAT).replace(tzinfo=timezone.utc)
    if hour < first:
        raise PartitionKeyError(f"partition key {key!r} is before the first partition {PARTITIONS_START}")
    if key > latest_complete_hour(now):
        raise PartitionKeyError(f"the hour {key} has not closed yet; the latest complete hour is {latest_complete_hour(now)}")
    return key


def _safe(text: str, limit: int = 600) -> str:
    text = redact(str(text)).strip()
    return text if len(text) <= limit else text[:limit] + "…"


def _utc_from_epoch(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, timezone.utc)


# ---------------------------------------------------------------- in process


class BackgroundWorkers:
    """``size`` daemon threads draining a queue of calls.

    Daemon threads never hold up the process's exit: work still queued or
    running then is dropped (a proof job stays ``running``, an in-process run
    ``STARTED``) instead of delaying a shutdown by minutes.
    """

    def __init__(self, name: str, size: int) -> None:
        self.name, self.size = name, max(1, size)
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def submit(self, fn, *args) -> None:
        with self._lock:
            if not self._threads:
                for n in range(self.size):
                    t = threading.Thread(target=self._drain, name=f"{self.name}-{n}", daemon=True)
                    t.start()
                    self._threads.append(t)
        self._queue.put((fn, args))

    def _drain(self) -> None:
        while True:
            fn, args = self._queue.get()
            try:
                fn(*args)
            except Exception:  # a worker must outlive any one task; tasks log their own errors
                log.exception("background task %s failed", getattr(fn, "__name__", fn))


@dataclass
class _LocalRun:
    partition_key: str
    home: str | None  # DAGSTER_HOME of the instance it runs on; None: this process's ephemeral instance
    state: str = "QUEUED"  # QUEUED → STARTED → SUCCESS | FAILURE | CANCELED
    started_at: datetime | None = None
    ended_at: datetime | None = None
    errors: list[str] = field(default_factory=list)


class InProcessLauncher:
    """Runs ``allocation_job`` in a worker thread of this process (see the module docstring)."""

    mode = "in_process"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._workers = BackgroundWorkers("zkp-dagster-run", 1)
        self._runs: OrderedDict[str, _LocalRun] = OrderedDict()
        self._instances: dict[str | None, object] = {}

    def instance(self, home: str | None):
        """The instance of DAGSTER_HOME ``home`` (as ``DagsterInstance.get()`` opens it; one per home, kept),
        or this process's ephemeral instance for ``None``."""
        from dagster import DagsterInstance

        with self._lock:
            inst = self._instances.get(home)
            if inst is None:
                try:
                    if home is None:
                        inst = DagsterInstance.ephemeral()
                    elif home == os.environ.get("DAGSTER_HOME"):
                        inst = DagsterInstance.get()  # checks the path and reads its dagster.yaml
                    else:  # a run launched before DAGSTER_HOME changed: the instance it ran on
                        inst = DagsterInstance.from_config(home)
                except Exception as exc:
                    raise OrchestrationError(
                        f"cannot open the Dagster instance in DAGSTER_HOME: {type(exc).__name__}: {_safe(exc)}"
                    ) from None
                self._instances[home] = inst
        return inst

    def launch(self, partition_key: str) -> Launch:
        if not os.environ.get("DATABASE_URL"):
            raise OrchestrationError("in-process runs use the code location's resources, which read "
                                     "DATABASE_URL; it is not set in this process")
        home = os.environ.get("DAGSTER_HOME") or None
        instance = self.instance(home)
        kind, note = "dagster_home", None
        if home is None:
            kind = "ephemeral"
            note = ("DAGSTER_HOME is not set: the run is recorded in an ephemeral in-memory Dagster instance, "
                    "visible only to this API process until it exits (not in the Dagster UI)")
        with self._lock:
            for run_id, run in self._runs.items():
                if run.partition_key == partition_key and run.home == home and run.state in ("QUEUED", "STARTED"):
                    return Launch(run_id, partition_key, self.mode, kind, already_running=True, note=note)
            run_id = str(uuid.uuid4())
            self._runs[run_id] = _LocalRun(partition_key, home)
            self._forget_old()
        self._workers.submit(self._execute, run_id, partition_key, instance)
        log.info("in-process run %s of %s for %s queued (%s instance)", run_id, JOB_NAME, partition_key, kind)
        return Launch(run_id, partition_key, self.mode, kind, note=note)

    def _forget_old(self) -> None:
        while len(self._runs) > MAX_REMEMBERED:
            old = next((rid for rid, r in self._runs.items() if r.state not in ("QUEUED", "STARTED")), None)
            if old is None:
                return
            del self._runs[old]

    def _execute(self, run_id: str, partition_key: str, instance) -> None:
        run = self._runs[run_id]
        run.state, run.started_at = "STARTED", datetime.now(timezone.utc)
        try:
            from zk_pipeline.definitions import defs

            result = defs.resolve_job_def(JOB_NAME).execute_in_process(
                partition_key=partition_key, instance=instance, run_id=run_id, raise_on_error=False,
                tags={LAUNCHED_BY_TAG: "api"})
            # Read back here, in the run's own thread: the ephemeral instance's in-memory SQLite
            # must not be used from request threads.
            record = instance.get_run_record_by_id(run_id)
            errors = [] if result.success else _failure_messages(instance, run_id)
            run.errors, run.ended_at = errors, datetime.now(timezone.utc)
            run.state = record.dagster_run.status.value if record else ("SUCCESS" if result.success else "FAILURE")
            log.info("in-process run %s for %s: %s", run_id, partition_key, run.state)
        except Exception as exc:  # the run may not even exist in storage: remember why
            run.errors, run.ended_at = [f"{type(exc).__name__}: {_safe(exc)}"], datetime.now(timezone.utc)
            run.state = "FAILURE"
            log.error("in-process run %s for %s crashed: %s", run_id, partition_key, run.errors[0])

    def known(self, run_id: str) -> bool:
        return run_id in self._runs

    def status(self, run_id: str) -> RunState:
        """From storage for ``DAGSTER_HOME`` instances; from this process's own record for ephemeral ones."""
        local = self._runs.get(run_id)
        if local is not None and local.home is None:
            return self._local_state(run_id, local)
        home = local.home if local is not None else os.environ.get("DAGSTER_HOME") or None
        if home is None:
            raise RunNotFound(run_id)
        instance = self.instance(home)
        stored = instance.get_run_record_by_id(run_id)
        if stored is None:
            if local is None:
                raise RunNotFound(run_id)
            return self._local_state(run_id, local)
        dagster_run = stored.dagster_run
        status = dagster_run.status.value
        errors = _failure_messages(instance, run_id) if status == "FAILURE" else []
        if local is not None and local.errors and not errors:
            errors = list(local.errors)
        return RunState(run_id, self.mode, status, dagster_run.tags.get(PARTITION_TAG),
                        started_at=_utc_from_epoch(stored.start_time), ended_at=_utc_from_epoch(stored.end_time),
                        errors=errors)

    def _local_state(self, run_id: str, local: _LocalRun) -> RunState:
        return RunState(run_id, self.mode, local.state, local.partition_key, started_at=local.started_at,
                        ended_at=local.ended_at, errors=list(local.errors))


def _failure_messages(instance, run_id: str, limit: int = 5) -> list[str]:
    """Why a run failed: its failed steps' errors, then the run failure message."""
    from dagster import DagsterEventType

    out = []
    try:
        records = instance.get_records_for_run(
            run_id, of_type={DagsterEventType.STEP_FAILURE, DagsterEventType.RUN_FAILURE}).records
    except Exception as exc:  # storage trouble must not hide the status itself
        return [f"failure details unavailable ({type(exc).__name__})"]
    for rec in records:
        event = rec.event_log_entry.dagster_event
        if event is None:
            continue
        if event.event_type == DagsterEventType.STEP_FAILURE:
            data = event.event_specific_data
            failure = getattr(data, "user_failure_data", None)  # a raised dagster.Failure says why itself
            error = getattr(data, "error", None)
            while error is not None and error.cause is not None:  # Dagster's wrapper → the real exception
                error = error.cause
            if failure is not None and failure.description:
                detail = failure.description
            elif error is not None:
                detail = error.message.strip() or error.cls_name or "failed"
            else:
                detail = event.message or "failed"
            out.append(f"step {event.step_key}: {_safe(' '.join(detail.split()))}")
        else:
            out.append(_safe(event.message or "run failed"))
    return out[:limit]


# ------------------------------------------------------------------ GraphQL


@dataclass(frozen=True)
class GraphQLEndpoint:
    hostname: str
    port: int | None
    use_https: bool
    path_prefix: str
    username: str | None
    password: str | None

    @classmethod
    def parse(cls, url: str) -> "GraphQLEndpoint":
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"DAGSTER_GRAPHQL_URL must be an http(s) URL like http://127.0.0.1:3000/graphql, "
                             f"got {redact(url)!r}")
        try:
            port = parts.port
        except ValueError:
            raise ValueError(f"DAGSTER_GRAPHQL_URL has an invalid port: {redact(url)!r}") from None
        path = parts.path.rstrip("/")
        if path.endswith("/graphql"):
            path = path[: -len("/graphql")]
        return cls(parts.hostname, port, parts.scheme == "https", path,
                   unquote(parts.username) if parts.username else None,
                   unquote(parts.password) if parts.password else None)

    @property
    def public_url(self) -> str:
        scheme = "https" if self.use_https else "http"
        netloc = self.hostname if self.port is None else f"{self.hostname}:{self.port}"
        return f"{scheme}://{netloc}{self.path_prefix}/graphql"


class GraphQLLauncher:
    """Submits and follows runs through a Dagster webserver's GraphQL API."""

    mode = "graphql"

    def __init__(self, url: str, timeout_s: int = 15) -> None:
        self.endpoint = GraphQLEndpoint.parse(url)
        self.timeout_s = timeout_s

    def _client(self):
        from dagster_graphql import DagsterGraphQLClient
        from requests.auth import HTTPBasicAuth

        e = self.endpoint
        auth = HTTPBasicAuth(e.username, e.password or "") if e.username else None
        return DagsterGraphQLClient(e.hostname, port_number=e.port, use_https=e.use_https, timeout=self.timeout_s,
                                    auth=auth, path_prefix=e.path_prefix)

    def _error(self, exc: Exception, doing: str) -> OrchestrationError:
        first = str(exc.args[0]) if getattr(exc, "args", None) else type(exc).__name__
        detail = " ".join(str(a).splitlines()[0] for a in exc.args[1:2] if a) if len(exc.args) > 1 else ""
        cause = exc.__cause__
        if "Error when connecting" in first:
            first = f"cannot connect ({type(cause).__name__ if cause else 'ConnectionError'})"
        elif "Server error with code" in first:
            first = first.splitlines()[0]
        elif "Exception occured during execution" in first:  # the client's wording; the cause says what broke
            reason = str(cause).splitlines()[0] if cause is not None and str(cause) else ""
            first = f"{type(cause).__name__}: {reason}".strip(": ")
            if cause is not None and "Connection" in type(cause).__name__:
                first = f"cannot connect ({first})"
        message = f"Dagster GraphQL API at {self.endpoint.public_url}: {doing} failed: {first}"
        if detail:
            message += f": {detail}"
        return OrchestrationError(_safe(message))

    def launch(self, partition_key: str) -> Launch:
        from dagster_graphql import DagsterGraphQLClientError

        try:
            run_id = self._client().submit_job_execution(
                JOB_NAME, tags={PARTITION_TAG: partition_key, LAUNCHED_BY_TAG: "api"})
        except DagsterGraphQLClientError as exc:
            raise self._error(exc, f"launching {JOB_NAME} for {partition_key}") from None
        except Exception as exc:  # transport-level surprises (bad TLS, bad JSON, ...)
            raise OrchestrationError(_safe(f"Dagster GraphQL API at {self.endpoint.public_url}: launch failed: "
                                           f"{type(exc).__name__}")) from None
        log.info("run %s of %s for %s submitted through GraphQL", run_id, JOB_NAME, partition_key)
        return Launch(run_id, partition_key, self.mode, "remote")

    def status(self, run_id: str) -> RunState:
        from dagster_graphql import DagsterGraphQLClientError

        try:
            status = self._client().get_run_status(run_id)
        except DagsterGraphQLClientError as exc:
            if exc.args and exc.args[0] in ("RunNotFoundError", "PipelineRunNotFoundError"):
                raise RunNotFound(run_id) from None
            raise self._error(exc, f"reading run {run_id}") from None
        except Exception as exc:
            raise OrchestrationError(_safe(f"Dagster GraphQL API at {self.endpoint.public_url}: status failed: "
                                           f"{type(exc).__name__}")) from None
        return RunState(run_id, self.mode, status.value)


# --------------------------------------------------------------- selection

_in_process = InProcessLauncher()


def get_launcher() -> GraphQLLauncher | InProcessLauncher:
    """GraphQL when ``DAGSTER_GRAPHQL_URL`` is set, else this process's in-process launcher.

    Raises ``ValueError`` for an unusable ``DAGSTER_GRAPHQL_URL``.
    """
    url = os.environ.get("DAGSTER_GRAPHQL_URL")
    return GraphQLLauncher(url) if url else _in_process


def launch_allocation_run(partition_key: str | None = None) -> Launch:
    key = check_partition_key(partition_key) if partition_key else latest_complete_hour()
    return get_launcher().launch(key)


def run_status(run_id: str) -> RunState:
    """The run's state from the configured deployment; runs launched in process here are found too."""
    launcher = get_launcher()
    try:
        return launcher.status(run_id)
    except RunNotFound:
        if launcher is not _in_process and _in_process.known(run_id):
            return _in_process.status(run_id)
        raise

