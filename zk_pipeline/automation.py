"""When work runs, and who starts it: all of it is Dagster's.

* ``hourly_schedule`` materializes the newest closed hour at minute 5 (five
  minutes for late data), unless that hour already has a decision or a run in
  progress (an API request may have started it).
* ``CATCH_UP`` (declarative automation, evaluated by ``catch_up_automation``)
  fills the older of the last ``CATCH_UP_HOURS`` hours that are missing, not
  in progress and whose last run did not fail: the hours the schedule missed
  while the daemon was down. It never takes the newest hour, which is the
  schedule's, so the two never launch an hour twice; an hour whose run failed
  is left for a person (or a backfill) instead of being retried for ever.
* ``run_requests_sensor`` and ``proof_requests_sensor`` turn what the API
  recorded (``orchestration_requests``; queued ``proof_jobs`` of origin
  ``api``) into runs. Each request's run key is the request id, so a request
  becomes exactly one run however often the sensor ticks, and a request made
  while Dagster was down is taken up when it comes back.
* ``interrupted_proofs_sensor``: a run whose process died (not a step that
  failed) is marked failed by the daemon's run monitoring and launched again
  by Dagster's run retries (``dagster.yaml``); this sensor closes the proof job
  such a run left open as ``interrupted``, with the run's failure as the reason.
"""

from __future__ import annotations

from datetime import timedelta

from dagster import (
    AssetKey,
    AssetSelection,
    AutomationCondition,
    AutomationConditionSensorDefinition,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunFailureSensorContext,
    RunRequest,
    ScheduleEvaluationContext,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    run_failure_sensor,
    schedule,
    sensor,
)

from zk_pipeline import hours
from zk_pipeline.assets.partitions import PARTITIONS_START
from zk_pipeline.db import proof_records
from zk_pipeline.jobs import allocation_job, proof_request_job
from zk_pipeline.resources import DatabaseResource
from zk_pipeline.run_health import run_worker, worker_alive
from zk_pipeline.services import dagster_runs, proof_requests, run_requests

CATCH_UP_HOURS = 6

#: Every asset of the graph carries it, so the whole hour runs as one run of all seven steps.
CATCH_UP = (
    AutomationCondition.in_latest_time_window(timedelta(hours=CATCH_UP_HOURS))
    & ~AutomationCondition.in_latest_time_window()
    & AutomationCondition.missing()
    & ~AutomationCondition.in_progress()
    & ~AutomationCondition.execution_failed()
).with_label(f"missing, among the {CATCH_UP_HOURS - 1} hours before the newest, not in progress, not failed")

catch_up_automation = AutomationConditionSensorDefinition(
    "catch_up_automation", target=AssetSelection.all(), default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=60, run_tags={dagster_runs.LAUNCHED_BY_TAG: "catch_up"},
    description="Fills missing recent hours the schedule did not run (see zk_pipeline/automation.py).")


@schedule(name="allocation_job_schedule", job=allocation_job, cron_schedule="5 * * * *", execution_timezone="UTC",
          default_status=DefaultScheduleStatus.RUNNING)
def hourly_schedule(context: ScheduleEvaluationContext):
    """The newest closed hour at minute 5, once."""
    key = hours.latest_complete_key(context.scheduled_execution_time)
    if key < PARTITIONS_START:
        return SkipReason(f"{key} is before the first partition {PARTITIONS_START}")
    instance = context.instance
    if instance.get_materialized_partitions(AssetKey("allocation_decision")) & {key}:
        return SkipReason(f"{key} already has a decision")
    running = dagster_runs.active_run(instance, key)
    if running is not None:
        return SkipReason(f"{key} is already being run by {running}")
    return RunRequest(run_key=key, partition_key=key, tags={dagster_runs.LAUNCHED_BY_TAG: "schedule"})


@sensor(job=allocation_job, minimum_interval_seconds=5, default_status=DefaultSensorStatus.RUNNING)
def run_requests_sensor(context: SensorEvaluationContext, database: DatabaseResource):
    """One run per recorded orchestration request; a request joins an hour already in progress."""
    instance, launch = context.instance, []
    with database.session() as s:
        for request in run_requests.pending_requests(s):
            run_id = (dagster_runs.run_tagged(instance, dagster_runs.REQUEST_TAG, request.id)
                      or dagster_runs.active_run(instance, request.partition_key))
            if run_id is not None:
                run_requests.mark_launched(s, request.id, run_id)
                continue
            launch.append(RunRequest(run_key=f"request-{request.id}", partition_key=request.partition_key,
                                     tags={dagster_runs.REQUEST_TAG: request.id, dagster_runs.LAUNCHED_BY_TAG: "api"}))
    if not launch:
        return SkipReason("no orchestration request waits for a run")
    return SensorResult(run_requests=launch)


@sensor(job=proof_request_job, minimum_interval_seconds=5, default_status=DefaultSensorStatus.RUNNING)
def proof_requests_sensor(context: SensorEvaluationContext, database: DatabaseResource):
    """One run of ``proof_request_job`` per queued API proof job."""
    instance, launch = context.instance, []
    with database.session() as s:
        for job_id, noted in proof_requests.queued_requests(s):
            run_id = dagster_runs.run_tagged(instance, dagster_runs.PROOF_JOB_TAG, job_id)
            if run_id is not None:
                if run_id != noted:
                    proof_requests.note_run(s, job_id, run_id)
                continue
            launch.append(RunRequest(
                run_key=f"proof-{job_id}", tags={dagster_runs.PROOF_JOB_TAG: job_id},
                run_config={"ops": {"prove_requested_statement": {"config": {"proof_job_id": job_id}}}}))
    if not launch:
        return SkipReason("no proof request waits for a run")
    return SensorResult(run_requests=launch)


@run_failure_sensor(monitored_jobs=[allocation_job, proof_request_job], minimum_interval_seconds=15,
                    default_status=DefaultSensorStatus.RUNNING)
def interrupted_proofs_sensor(context: RunFailureSensorContext, database: DatabaseResource):
    run = context.dagster_run
    reason = f"run {run.run_id} failed: {context.failure_event.message}"
    worker = run_worker(context.instance, run.run_id)
    if worker is not None and not worker_alive(*worker):
        reason += f" (run worker process {worker[0]} is gone)"
    with database.session() as s:
        closed = proof_records.interrupt(s, reason[:2000], run_id=run.run_id)
    if closed:
        context.log.info(f"proof jobs of failed run {run.run_id} closed as interrupted: {', '.join(closed)}")
