"""Hourly partitions (one allocation decision per UTC hour), and the metadata helpers every asset uses.

They start at ``ZKP_PARTITIONS_START`` (``zkp run`` pins it at its first run;
see ``partition_start``), else at ``settings.DEFAULT_PARTITIONS_START``.
"""

from __future__ import annotations

from dagster import BackfillPolicy, HourlyPartitionsDefinition, MetadataValue

from zk_pipeline.assets.partition_start import configured_start
from zk_pipeline.hours import PARTITION_FORMAT
from zk_pipeline.settings import get_settings

#: Backfills may reach back to this hour. The replay source is defined for any hour.
PARTITIONS_START = configured_start()
hourly = HourlyPartitionsDefinition(start_date=PARTITIONS_START, fmt=PARTITION_FORMAT, timezone="UTC")


def hourly_backfill_policy(hours_per_run: int) -> BackfillPolicy:
    """A backfill runs ``hours_per_run`` hours per run (0: the whole range in one run).

    Every hourly asset works on the whole range of its run at once (``hour_ranges``): one read
    of the metrics, statements built from one frame, batched writes, proofs in parallel. The
    schedule and the catch-up still launch one run per hour. A bounded range bounds a run's memory.
    """
    return BackfillPolicy.single_run() if hours_per_run == 0 else BackfillPolicy.multi_run(hours_per_run)


backfill_policy = hourly_backfill_policy(get_settings().partitions.backfill_hours_per_run)


def md_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def per_protocol_metadata(values: dict[str, dict[str, int | float]]) -> dict[str, MetadataValue]:
    """Numeric ``<protocol>_<name>`` entries: Dagster plots numeric metadata over materializations
    (the markdown tables beside them it can only show)."""
    return {f"{protocol}_{name}": MetadataValue.int(v) if isinstance(v, int) else MetadataValue.float(float(v))
            for protocol, row in values.items() for name, v in row.items()}
