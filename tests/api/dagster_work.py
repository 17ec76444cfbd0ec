"""Doing in a test what the Dagster daemon does with the API's requests: evaluate the sensor, run what it asks.

The sensors are evaluated on a real instance (PostgreSQL storage) and each run
request is executed with ``execute_in_process`` on that instance, with the run
request's tags, partition and config: the same run the daemon would launch,
minus the daemon's process hops. ``tests/api/test_requests_through_dagster.py``
runs the real daemon.
"""

from __future__ import annotations

from dagster import SensorResult, SkipReason, build_sensor_context

from zk_pipeline.resources import DatabaseResource


def evaluate(sensor, instance, db_url: str):
    """The sensor's run requests (``[]`` for a skip), as the daemon would get them."""
    result = sensor(build_sensor_context(instance=instance, resources={"database": DatabaseResource(url=db_url)}))
    if isinstance(result, SkipReason):
        return []
    assert isinstance(result, SensorResult), result
    return list(result.run_requests or [])


def execute(instance, job_name: str, run_request, resources: dict | None = None):
    """One run request, executed in this process on ``instance`` (``resources`` replace the code
    location's, which were built from the settings when it loaded); the ``ExecuteInProcessResult``."""
    from zk_pipeline.definitions import defs

    return defs.resolve_job_def(job_name).execute_in_process(
        run_config=run_request.run_config or None, tags=run_request.tags, partition_key=run_request.partition_key,
        instance=instance, raise_on_error=False, resources=resources)


def take_up_proof_requests(instance, db_url: str, resources: dict | None = None) -> list:
    """Every queued API proof job, proved as its ``proof_request_job`` run; the run results."""
    from zk_pipeline.automation import proof_requests_sensor

    return [execute(instance, "proof_request_job", rr, resources)
            for rr in evaluate(proof_requests_sensor, instance, db_url)]


def take_up_run_requests(instance, db_url: str) -> list:
    from zk_pipeline.automation import run_requests_sensor

    return [execute(instance, "allocation_job", rr) for rr in evaluate(run_requests_sensor, instance, db_url)]
