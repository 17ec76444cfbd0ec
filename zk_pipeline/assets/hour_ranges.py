"""Runs over many hours: the hours an asset works on, and what becomes of a bad one.

Every hourly asset runs over the hours of its run: one for the schedule and the
catch-up, up to ``ZKP_BACKFILL_HOURS_PER_RUN`` for a backfill (the assets'
``BackfillPolicy``). In a range, one bad hour must not cost the others:

- the asset that cannot compute an hour raises ``HourFailed`` for it; the hour
  is recorded in ``hour_failures`` for the run, and the run's later assets
  leave it alone;
- when no hour of the asset's run is left, the step fails (a single-hour run
  fails exactly where it did before ranges existed);
- the last asset, ``allocation_decision``, records the good hours, reports
  them as materialized one by one, and then fails naming every bad hour with
  the asset that gave it up and why, so the UI shows those partitions failed.

Dagster materializes a whole range when a step succeeds: an intermediate asset
cannot mark a single partition of its range failed (dagster-io/dagster#17836).
Its bad hours are therefore named in its metadata (``outcome`` per partition)
and the failure is carried by the last asset. Re-running a bad hour means
running the whole graph for it (the API's orchestrate request, or a
materialization of all assets for that partition in the UI).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

from dagster import AssetCheckSeverity, AssetExecutionContext, AssetMaterialization, Failure, MetadataValue

from zk_pipeline.assets.partitions import md_table
from zk_pipeline.db import hour_failures
from zk_pipeline.hours import HOUR, key_of
from zk_pipeline.resources import DatabaseResource

#: Bad hours listed in a step's metadata table (all are in ``hour_failures`` and in the run's log).
LISTED = 50


class HourFailed(Exception):
    """One hour of the run cannot be computed by this asset; the message says why."""


def hours_of(context: AssetExecutionContext) -> list[datetime]:
    """The UTC hours of the run's partition range (one for a single-partition run)."""
    window = context.partition_time_window
    start, end = window.start.astimezone(timezone.utc), window.end.astimezone(timezone.utc)
    return [start + i * HOUR for i in range(int((end - start) / HOUR))]


class HourRange:
    """One asset's pass over the hours of its run.

    ``todo`` holds the hours an earlier asset of the run did not give up on; ``each`` (or
    ``attempt``) runs the per-hour work, collecting ``HourFailed``; ``finish`` records the
    failures and builds the step's metadata, one ``outcome`` per partition.
    """

    def __init__(self, context: AssetExecutionContext, database: DatabaseResource, asset: str) -> None:
        self.context, self.database, self.asset = context, database, asset
        self.run_id = context.run.run_id
        self.hours = hours_of(context)
        with database.session() as s:
            self.failed_before = hour_failures.of_run(s, self.run_id)
        self.todo = [h for h in self.hours if h not in self.failed_before]
        self.failed: dict[datetime, str] = {}
        self.per_hour: dict[datetime, dict] = {}

    def window(self, hours: int) -> tuple[datetime, datetime]:
        """First and last hour of the ``hours``-long windows ending at the hours still to do."""
        if not self.todo:
            raise Failure(description="no hour of this run is left: " + self._failure_text(self._bad()),
                          allow_retries=False)
        return self.todo[0] - (hours - 1) * HOUR, self.todo[-1]

    @property
    def single(self) -> bool:
        return len(self.hours) == 1

    @property
    def good(self) -> list[datetime]:
        return [h for h in self.todo if h not in self.failed]

    def attempt(self, hour: datetime, work: Callable[[datetime], dict | None]) -> None:
        try:
            self.per_hour[hour] = work(hour) or {}
        except HourFailed as exc:
            self.fail(hour, str(exc))

    def each(self, work: Callable[[datetime], dict | None]) -> None:
        for hour in list(self.good):
            self.attempt(hour, work)

    def fail(self, hour: datetime, reason: str) -> None:
        self.failed[hour] = reason
        self.per_hour.pop(hour, None)

    def finish(self, summary: dict | None = None, fail_when_empty: bool = True) -> dict:
        """Record this asset's bad hours; the step's metadata, or a ``Failure`` when no hour is left
        (unless ``fail_when_empty`` is off: the asset then blocks its successors its own way)."""
        self._record()
        if not self.good and fail_when_empty:
            raise Failure(description=self._failure_text(self.failed), allow_retries=False,
                          metadata=self._failure_metadata(self.failed))
        return self._metadata(summary or {})

    def finish_last(self, summary: dict | None = None) -> dict:
        """``finish`` for the run's last asset: with any bad hour in the run, the good hours are
        reported materialized one by one, and the step fails naming every bad hour."""
        self._record()
        bad = self._bad()
        if not bad:
            return self._metadata(summary or {})
        for hour in self.good:
            self.context.log_event(AssetMaterialization(
                asset_key=self.context.asset_key, partition=key_of(hour),
                metadata={**(summary or {}), **self.per_hour.get(hour, {}), "outcome": "recorded"}))
        raise Failure(description=self._failure_text(bad), allow_retries=False,
                      metadata={**self._failure_metadata(bad), "hours_recorded": len(self.good)})

    # -- helpers

    def _bad(self) -> dict[datetime, str]:
        """Every hour of the run given up on so far, with ``asset: reason``."""
        return {**{h: f"{a}: {r}" for h, (a, r) in self.failed_before.items()},
                **{h: f"{self.asset}: {r}" for h, r in self.failed.items()}}

    def _record(self) -> None:
        if not self.failed:
            return
        if not self.single:  # a single hour's run stops at this step: no later asset needs telling
            with self.database.session() as s:
                hour_failures.record(s, self.run_id, self.asset, self.failed)
        for hour, reason in self.failed.items():
            self.context.log.error(f"{self.asset}: hour {key_of(hour)} left for a re-run: {reason}")

    def _metadata(self, summary: dict) -> dict:
        if self.single:
            return {**summary, **self.per_hour.get(self.hours[0], {})}
        for hour in self.hours:
            if hour in self.per_hour:
                outcome = {**self.per_hour[hour], "outcome": "ok"}
            elif hour in self.failed:
                outcome = {"outcome": f"failed: {self.failed[hour]}"}
            else:
                asset, reason = self.failed_before[hour]
                outcome = {"outcome": f"skipped: {asset} failed: {reason}"}
            self.context.add_asset_metadata(outcome, partition_key=key_of(hour))
        bad = self._bad()
        return {**summary, "hours": len(self.hours), "hours_ok": len(self.good), "hours_failed": len(bad),
                **({"failed_hours": MetadataValue.md(self._table(bad))} if bad else {})}

    def _failure_text(self, bad: dict[datetime, str]) -> str:
        if self.single and self.hours[0] in self.failed:  # one hour: its reason, as before ranges existed
            return self.failed[self.hours[0]]
        hours = sorted(bad)
        named = ", ".join(key_of(h) for h in hours[:10]) + (f" and {len(hours) - 10} more" if len(hours) > 10 else "")
        first = bad[hours[0]]
        return (f"{len(hours)} of {len(self.hours)} hours not recorded ({named}), left for a re-run; "
                f"first: {key_of(hours[0])}: {first}")

    def _failure_metadata(self, bad: dict[datetime, str]) -> dict:
        return {"failed_hours": MetadataValue.md(self._table(bad)), "hours_failed": len(bad),
                "hours": len(self.hours)}

    @staticmethod
    def _table(bad: dict[datetime, str]) -> str:
        rows = [[key_of(h), reason[:300].replace("|", "/")] for h, reason in sorted(bad.items())[:LISTED]]
        more = [["...", f"{len(bad) - LISTED} more"]] if len(bad) > LISTED else []
        return md_table(["hour", "why"], rows + more)


def severity(hours: HourRange) -> AssetCheckSeverity:
    """A failed check blocks the downstream assets (ERROR) only when no hour of the run is left for
    them; with good hours left it warns, and its bad hours are recorded as left for a re-run."""
    return AssetCheckSeverity.WARN if hours.good else AssetCheckSeverity.ERROR
