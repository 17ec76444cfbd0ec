"""``protocol_metrics`` retries source errors (the asset's Dagster ``RetryPolicy``), on a real PostgreSQL.

The metrics source is the shipped replay, wrapped so that its first fetches
raise ``SourceError``. ``materialize`` runs the in-process executor, which
honours the policy: it re-runs the step in the same process after the policy's
delay and records ``STEP_UP_FOR_RETRY`` / ``STEP_RESTARTED`` events, so the
whole retry story is visible in the run's event log.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from dagster import DagsterEventType, DagsterRunStatus, materialize

from tests.helpers import pipeline_resources
from zk_pipeline.db import repository
from zk_pipeline.db.models import ProtocolMetric
from zk_pipeline.db.session import session_scope
from zk_pipeline.assets.market import build_protocol_metrics, source_retry_policy
from zk_pipeline.resources import MetricsSourceResource
from zk_pipeline.sources.base import MetricsSource, SourceError, Window
from zk_pipeline.sources.replay import ReplaySource

PARTITION = "2026-11-20-10:00"
BACKOFF_S = 0.01


@dataclass
class Calls:
    """Fetches seen across attempts; each retry builds a new source, so the count lives here."""

    count: int = 0


CALLS = Calls()


class FlakyReplaySource(ReplaySource):
    """The replay source, failing its first ``failures`` fetches (counted process-wide in ``CALLS``)."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    def fetch(self, window: Window):
        CALLS.count += 1
        if CALLS.count <= self.failures:
            raise SourceError(f"simulated outage, fetch {CALLS.count} of {self.failures} failing")
        return super().fetch(window)


class FlakyMetricsSourceResource(MetricsSourceResource):
    failures: int = 0

    def build(self) -> MetricsSource:
        return FlakyReplaySource(self.failures)


@pytest.fixture(autouse=True)
def reset_calls():
    CALLS.count = 0
    yield


def run_metrics(url, instance, *, failures: int, retries: int):
    resources = {**pipeline_resources(url), "metrics_source": FlakyMetricsSourceResource(failures=failures)}
    asset = build_protocol_metrics(source_retry_policy(retries, BACKOFF_S))
    return materialize([asset], partition_key=PARTITION, resources=resources, instance=instance,
                       raise_on_error=False)


def events_of(instance, run_id: str, event_type: DagsterEventType):
    return [r.dagster_event for r in instance.all_logs(run_id, of_type=event_type)]


def test_source_errors_are_retried_until_the_fetch_succeeds(db_url, dagster_instance):
    result = run_metrics(db_url, dagster_instance, failures=2, retries=3)

    assert result.success
    assert CALLS.count == 3  # two failures, then the fetch that worked
    retries = events_of(dagster_instance, result.run_id, DagsterEventType.STEP_UP_FOR_RETRY)
    # Exponential backoff from ZKP_SOURCE_BACKOFF_S: 1x, then 3x (Dagster's (2^n - 1) * delay).
    assert [e.event_specific_data.seconds_to_wait for e in retries] == [BACKOFF_S, 3 * BACKOFF_S]
    assert "simulated outage" in retries[0].event_specific_data.error.cause.message
    assert not events_of(dagster_instance, result.run_id, DagsterEventType.STEP_FAILURE)
    [mat] = result.get_asset_materialization_events()
    assert mat.materialization.metadata["rows_written"].value == 2 * 720  # two pools, 720-hour window
    with session_scope(db_url) as s:
        assert repository.count(s, ProtocolMetric) == 2 * 720


def test_more_failures_than_retries_fail_the_run_and_write_nothing(db_url, dagster_instance):
    result = run_metrics(db_url, dagster_instance, failures=10, retries=2)

    assert not result.success
    assert CALLS.count == 3  # the first attempt and two retries
    assert dagster_instance.get_run_by_id(result.run_id).status == DagsterRunStatus.FAILURE
    assert len(events_of(dagster_instance, result.run_id, DagsterEventType.STEP_UP_FOR_RETRY)) == 2
    [failure] = events_of(dagster_instance, result.run_id, DagsterEventType.STEP_FAILURE)
    assert failure.step_key == "protocol_metrics"
    cause = failure.event_specific_data.error.cause  # Dagster wraps the op's exception
    assert cause.cls_name == "SourceError" and "fetch 3 of 10" in cause.message
    assert not result.get_asset_materialization_events()
    with session_scope(db_url) as s:
        assert repository.count(s, ProtocolMetric) == 0


def test_zero_retries_fail_at_the_first_source_error(db_url, dagster_instance):
    result = run_metrics(db_url, dagster_instance, failures=1, retries=0)

    assert not result.success
    assert CALLS.count == 1
    assert not events_of(dagster_instance, result.run_id, DagsterEventType.STEP_UP_FOR_RETRY)
    assert len(events_of(dagster_instance, result.run_id, DagsterEventType.STEP_FAILURE)) == 1
