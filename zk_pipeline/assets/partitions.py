"""Hourly partitions: one allocation decision per UTC hour."""

from __future__ import annotations

from datetime import datetime, timezone

from dagster import AssetExecutionContext, HourlyPartitionsDefinition

#: Backfills may reach back to this hour. The replay source is defined for any hour.
PARTITIONS_START = "2026-01-01-00:00"
hourly = HourlyPartitionsDefinition(start_date=PARTITIONS_START, timezone="UTC")


def partition_hour(context: AssetExecutionContext) -> datetime:
    return context.partition_time_window.start.astimezone(timezone.utc)


def md_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
