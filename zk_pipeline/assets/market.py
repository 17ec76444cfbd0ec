"""``protocol_metrics``: hourly pool snapshots, validated and stored."""

import numpy as np
import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    Failure,
    MaterializeResult,
    AssetsDefinition,
    Backoff,
    MetadataValue,
    RetryPolicy,
    asset,
)

from zk_pipeline.assets.hour_ranges import HourRange
from zk_pipeline.assets.partitions import backfill_policy, hourly, md_table, per_protocol_metadata
from zk_pipeline.db import repository
from zk_pipeline.features.fixed_point import PRICE_SCALE, USD_SCALE
from zk_pipeline.risk.series import hourly_protocol_frame
from zk_pipeline.resources import DatabaseResource, MetricsSourceResource, RiskModelResource
from zk_pipeline.settings import get_settings
from zk_pipeline.sources.base import SourceError, Window
from zk_pipeline.sources.quality import validate

#: Issues listed in the check's ``rows`` metadata: every row of a 720-hour window over 20 pools.
MAX_LISTED = 20_000


def source_retry_policy(retries: int, backoff_s: float) -> RetryPolicy | None:
    """Dagster retries a failed fetch ``retries`` times, waiting ``backoff_s``, then 3x, 7x... as long."""
    return RetryPolicy(max_retries=retries, delay=backoff_s, backoff=Backoff.EXPONENTIAL) if retries else None


def build_protocol_metrics(retry_policy: RetryPolicy | None) -> AssetsDefinition:
    """The asset with the retry policy of the deployment's settings (tests choose their own)."""

    @asset(
        name="protocol_metrics",
        partitions_def=hourly,
        backfill_policy=backfill_policy,
        group_name="market_data",
        kinds={"postgres"},
        retry_policy=retry_policy,
        check_specs=[AssetCheckSpec("metrics_quality", asset="protocol_metrics", blocking=True,
                                    description="Bad rows are named; rejected or missing rows block downstream.")],
    )
    def _protocol_metrics(
        context: AssetExecutionContext,
        database: DatabaseResource,
        metrics_source: MetricsSourceResource,
        risk_model: RiskModelResource,
    ) -> MaterializeResult:
        return protocol_metrics_of_hour(context, database, metrics_source, risk_model)

    return _protocol_metrics


def protocol_metrics_of_hour(
    context: AssetExecutionContext,
    database: DatabaseResource,
    metrics_source: MetricsSourceResource,
    risk_model: RiskModelResource,
) -> MaterializeResult:
    """Snapshots of every pool for the model's windows ending at the run's hours.

    The whole span is read once and refreshed (upserted) on every run, so the
    features of an hour never depend on which other partitions happened to run
    before. Source errors are retried by the asset's ``RetryPolicy``
    (``ZKP_SOURCE_RETRIES`` times, exponential backoff from ``ZKP_SOURCE_BACKOFF_S``);
    errors that waiting cannot fix (``retryable`` false: unusable data, DNS,
    refused, 4xx) fail at once.

    A blocking issue (rejected or missing rows) spoils every hour whose window
    holds it. Those hours are left for a re-run (``hour_ranges``); the rows of the
    other hours' windows are written. When no hour is left, nothing is written
    and the check fails with ERROR, which blocks the downstream assets.
    """
    hours = HourRange(context, database, "protocol_metrics")
    span = risk_model.model().params.volatility_window_hours
    window = Window(hours.hours[-1], span + len(hours.hours) - 1)
    source = metrics_source.build()
    try:
        raw = source.fetch(window)
    except SourceError as exc:
        if not exc.retryable:
            # Unusable data, or a definite "no" from the network (DNS, refused, 4xx): waiting cannot help.
            context.log.error(f"source {source.name} failed: {exc}")
            raise Failure(description=f"source {source.name}: {exc}", allow_retries=False) from None
        context.log.warning(f"source {source.name} failed ({exc}) on attempt {context.retry_number + 1}")
        raise
    covered = source.coverage(window)
    if covered is None:
        raise Failure(description=f"source {source.name} has no data for {window.end.isoformat()} "
                      "(a live source only knows the most recent complete hour)", allow_retries=False)
    with database.session() as session:
        stored = repository.stored_real_metric_keys(session, covered.start, covered.end)
    report = validate(raw, covered, max_fill_hours=metrics_source.max_fill_hours, stored=stored)
    spans = report.blocked_spans()
    for hour in hours.todo:
        first = pd.Timestamp(hour) - pd.Timedelta(hours=span - 1)
        touching = [s for s in spans if s is None or (s[0] <= pd.Timestamp(hour) and s[1] >= first)]
        if touching:
            hours.fail(hour, f"metrics_quality: {len(touching)} blocking issue(s) in its {span}-hour window")
    good = hours.good
    # Quality is decided before anything is written: an hour left for a re-run adds no rows, and
    # a run with no hour left leaves every table as it was.
    written = 0
    if good:
        # A row is kept when a good hour at or after it is less than a window away: the first good
        # hour at or after each row's hour is found by one sorted search, not by a pass per hour.
        ends = pd.DatetimeIndex(good).tz_convert(None).to_numpy(dtype="datetime64[ns]")
        hours_of_rows = report.clean["hour"].dt.tz_convert(None).to_numpy(dtype="datetime64[ns]")
        nearest = np.searchsorted(ends, hours_of_rows)
        later = ends[np.minimum(nearest, len(ends) - 1)]
        keep = (nearest < len(ends)) & (later - hours_of_rows < np.timedelta64(span, "h"))
        with database.session() as session:
            written = repository.upsert_metrics(session, report.clean[keep], source.name)
    else:
        context.log.error(f"metrics_quality: {len(report.blocking)} blocking issues; nothing written")

    check = AssetCheckResult(
        check_name="metrics_quality",
        passed=not report.issues,
        # ERROR blocks the downstream assets: only when no hour of the run is left for them.
        severity=AssetCheckSeverity.ERROR if not good else AssetCheckSeverity.WARN,
        metadata={
            "issues": len(report.issues),
            "blocking_issues": len(report.blocking),
            "hours_blocked": len(hours.failed),
            "bad_rows": MetadataValue.md(report.markdown()),
            # Every issue, machine-readable: the markdown table is cut at 50 rows. A pathological
            # source can produce far more than a window's worth; the event log is spared beyond that.
            "rows": MetadataValue.json([i.as_row() for i in report.issues[:MAX_LISTED]]
                                       + ([{"more": len(report.issues) - MAX_LISTED}]
                                          if len(report.issues) > MAX_LISTED else [])),
        },
    )
    pools = report.clean.groupby(["protocol", "pool"]).size().reset_index(name="hours")
    frame = hourly_protocol_frame(report.clean)
    by_hour = dict(iter(frame.groupby("hour")))
    for hour in good:
        at_hour = by_hour.get(pd.Timestamp(hour), frame.iloc[:0])
        hours.per_hour[hour] = per_protocol_metadata({r.protocol: {
            "price": r.price_e8 / PRICE_SCALE, "tvl_usd": r.tvl_e6 / USD_SCALE,
            "volume_usd": r.volume_e6 / USD_SCALE, "fees_usd": r.fees_e6 / USD_SCALE} for r in at_hour.itertuples()})
    metadata = hours.finish({
        "source": source.name,
        "window_hours": window.hours,
        "hours_covered_by_source": covered.hours,
        "rows_fetched": len(raw),
        "rows_written": written,
        "rows_kept_from_storage": sum(1 for i in report.issues if i.action == "kept"),
        "rows_repaired": int(report.clean["repaired"].sum()) if written else 0,
        "pools": MetadataValue.md(md_table(["protocol", "pool", "hours"], pools.values.tolist())),
    }, fail_when_empty=False)
    return MaterializeResult(metadata=metadata, check_results=[check])


_source = get_settings().source
protocol_metrics = build_protocol_metrics(source_retry_policy(_source.retries, _source.backoff_s))
