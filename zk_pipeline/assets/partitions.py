"""Hourly partitions (one allocation decision per UTC hour), and the metadata helpers every asset uses.

They start at ``ZKP_PARTITIONS_START`` (``zkp run`` pins it at its first run;
see ``partition_start``), else at ``settings.DEFAULT_PARTITIONS_START``.
"""

from __future__ import annotations

from datetime import datetime, timezone

from dagster import AssetExecutionContext, HourlyPartitionsDefinition, MetadataValue

from zk_pipeline.assets.partition_start import configured_start
from zk_pipeline.hours import PARTITION_FORMAT

#: Backfills may reach back to this hour. The replay source is defined for any hour.
PARTITIONS_START = configured_start()
hourly = HourlyPartitionsDefinition(start_date=PARTITIONS_START, fmt=PARTITION_FORMAT, timezone="UTC")


def partition_hour(context: AssetExecutionContext) -> datetime:
    return context.partition_time_window.start.astimezone(timezone.utc)


def md_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def per_protocol_metadata(values: dict[str, dict[str, int | float]]) -> dict[str, MetadataValue]:
    """Numeric ``<protocol>_<name>`` entries: Dagster plots numeric metadata over materializations
    (the markdown tables beside them it can only show)."""
    return {f"{protocol}_{name}": MetadataValue.int(v) if isinstance(v, int) else MetadataValue.float(float(v))
            for protocol, row in values.items() for name, v in row.items()}
