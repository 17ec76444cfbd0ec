"""Reading Dagster's run storage: is an hour being worked on, and how did a run go.

The API opens the deployment's instance (``DAGSTER_HOME``: the same PostgreSQL
that holds the app's records, see ``dagster.yaml``) only to read it; runs are
created by Dagster's own sensors, schedules and automation.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone

from zk_pipeline.redaction import public_text

ALLOCATION_JOB = "allocation_job"
PROOF_REQUEST_JOB = "proof_request_job"
PARTITION_TAG = "dagster/partition"
#: Tags of runs made from an API request: which request, and that the API asked for it.
REQUEST_TAG = "zkp/request_id"
PROOF_JOB_TAG = "zkp/proof_job_id"
LAUNCHED_BY_TAG = "zkp/launched_by"
FINISHED = frozenset({"SUCCESS", "FAILURE", "CANCELED"})


class DagsterUnavailable(RuntimeError):
    """No Dagster instance to read (``DAGSTER_HOME`` unset or unusable); the message is safe to show."""


@dataclass(frozen=True)
class RunState:
    run_id: str
    status: str  # a DagsterRunStatus name
    partition_key: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    #: ``step <key>: <error>`` for each failed step, then the run's failure message.
    errors: list[str] = field(default_factory=list)
    failed_step: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


_instances: dict[str, object] = {}
_lock = threading.Lock()


def instance_at(home: str | None):
    """The Dagster instance of ``home`` (one per home and process, kept open)."""
    from dagster import DagsterInstance

    if not home:
        raise DagsterUnavailable("DAGSTER_HOME is not set: the API cannot read Dagster's runs "
                                 "(`zkp run` sets it; see README, Environment variables)")
    with _lock:
        instance = _instances.get(home)
        if instance is None:
            try:
                instance = DagsterInstance.from_config(home)
            except Exception as exc:
                raise DagsterUnavailable(f"cannot open the Dagster instance in DAGSTER_HOME: "
                                         f"{type(exc).__name__}: {public_text(str(exc))[:300]}") from None
            _instances[home] = instance
    return instance


def _utc(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, timezone.utc)


def active_run(instance, partition_key: str) -> str | None:
    """The id of a queued or running ``allocation_job`` run of this hour, if there is one."""
    from dagster import DagsterRunStatus, RunsFilter

    runs = instance.get_run_records(RunsFilter(
        job_name=ALLOCATION_JOB, tags={PARTITION_TAG: partition_key},
        statuses=[DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING,
                  DagsterRunStatus.STARTED]), limit=1)
    return runs[0].dagster_run.run_id if runs else None


def run_tagged(instance, key: str, value: str) -> str | None:
    """The newest run carrying tag ``key=value`` (a run retry carries its parent's tags)."""
    from dagster import RunsFilter

    runs = instance.get_run_records(RunsFilter(tags={key: value}), limit=1)
    return runs[0].dagster_run.run_id if runs else None


def run_state(instance, run_id: str) -> RunState | None:
    record = instance.get_run_record_by_id(run_id)
    if record is None:
        return None
    run = record.dagster_run
    status = run.status.value
    errors, failed_step = (failure_details(instance, run_id) if status == "FAILURE" else ([], None))
    return RunState(run_id, status, run.tags.get(PARTITION_TAG), started_at=_utc(record.start_time),
                    ended_at=_utc(record.end_time), errors=errors, failed_step=failed_step)


def failure_details(instance, run_id: str, limit: int = 5) -> tuple[list[str], str | None]:
    """Why a run failed: its failed steps' errors, then the run's failure message; and the first failed step."""
    from dagster import DagsterEventType

    try:
        records = instance.get_records_for_run(
            run_id, of_type={DagsterEventType.STEP_FAILURE, DagsterEventType.RUN_FAILURE}).records
    except Exception as exc:  # storage trouble must not hide the status itself
        return [f"failure details unavailable ({type(exc).__name__})"], None
    out, first_step = [], None
    for rec in records:
        event = rec.event_log_entry.dagster_event
        if event is None:
            continue
        if event.event_type == DagsterEventType.STEP_FAILURE:
            first_step = first_step or event.step_key
            out.append(f"step {event.step_key}: {_step_error(event)}")
        else:
            out.append(public_text((event.message or "run failed").strip(), limit=600))
    return out[:limit], first_step


def _step_error(event) -> str:
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
    return public_text(" ".join(detail.split()), limit=600)
