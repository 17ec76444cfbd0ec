"""When the graph runs: an hourly schedule, and a sensor that catches up.

The schedule materializes each hour a few minutes after it closes. It only
fires while the daemon is up, so the catch-up sensor looks back over the last
``CATCH_UP_HOURS`` complete hours and requests a run for every partition
without a recorded decision. The run key is the partition key, so Dagster
never launches the same catch-up twice; a partition whose run failed is left
for a person (or a backfill) to look at instead of being retried forever.
"""

from datetime import datetime, timedelta, timezone

from dagster import (
    AssetKey,
    AssetSelection,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SkipReason,
    build_schedule_from_partitioned_job,
    define_asset_job,
    in_process_executor,
    sensor,
)

from zk_pipeline.assets.partitions import hourly

CATCH_UP_HOURS = 6

#: In-process executor: the graph is a chain (nothing to run in parallel) and the
#: prover already runs in a child process, so a process per step would only add
#: ~4 s of start-up to each of the seven steps.
allocation_job = define_asset_job(
    "allocation_job",
    selection=AssetSelection.all(),
    partitions_def=hourly,
    executor_def=in_process_executor,
    description="Metrics → features → risk → allocation → proof → fact → decision for one hour.",
)

hourly_schedule = build_schedule_from_partitioned_job(
    allocation_job, minute_of_hour=5, default_status=DefaultScheduleStatus.RUNNING
)


def hours_to_catch_up(now: datetime, done: set[str], hours: int = CATCH_UP_HOURS) -> list[str]:
    last_complete = now.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    keys = [(last_complete - timedelta(hours=i)).strftime("%Y-%m-%d-%H:%M") for i in range(hours)]
    return [k for k in reversed(keys) if k not in done]


@sensor(job=allocation_job, minimum_interval_seconds=300, default_status=DefaultSensorStatus.RUNNING)
def catch_up_sensor(context: SensorEvaluationContext):
    done = context.instance.get_materialized_partitions(AssetKey("allocation_decision"))
    keys = hours_to_catch_up(datetime.now(timezone.utc), done)
    if not keys:
        return SkipReason(f"decisions recorded for the last {CATCH_UP_HOURS} hours")
    return [RunRequest(run_key=k, partition_key=k) for k in keys]
