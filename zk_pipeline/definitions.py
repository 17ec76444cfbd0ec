"""The Dagster code location: every asset, check, job, schedule and resource.

Resources read the environment (see README, "Environment variables"):
``DATABASE_URL`` for PostgreSQL, ``ZKP_METRICS_SOURCE`` / ``ZKP_REPLAY_PATH``
for the metrics source, ``ZKP_MODEL_VERSION`` to pin a model.
"""

from __future__ import annotations

import os

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    Definitions,
    EnvVar,
    build_schedule_from_partitioned_job,
    define_asset_job,
    load_assets_from_modules,
)

from zk_pipeline.assets import market, risk
from zk_pipeline.assets.partitions import hourly
from zk_pipeline.resources import DatabaseResource, MetricsSourceResource, RiskModelResource

all_assets = load_assets_from_modules([market, risk])

allocation_job = define_asset_job(
    "allocation_job",
    selection=AssetSelection.all(),
    partitions_def=hourly,
    description="Metrics → features → risk → allocation → decision for one hour.",
)

#: Runs a few minutes after each hour closes, for the hour that just closed.
hourly_schedule = build_schedule_from_partitioned_job(
    allocation_job, minute_of_hour=5, default_status=DefaultScheduleStatus.RUNNING
)


def _optional_int(name: str) -> int | None:
    value = os.environ.get(name)
    return int(value) if value else None


defs = Definitions(
    assets=all_assets,
    jobs=[allocation_job],
    schedules=[hourly_schedule],
    resources={
        "database": DatabaseResource(url=EnvVar("DATABASE_URL")),
        "metrics_source": MetricsSourceResource(
            kind=os.environ.get("ZKP_METRICS_SOURCE", "replay"),
            replay_path=os.environ.get("ZKP_REPLAY_PATH") or None,
        ),
        "risk_model": RiskModelResource(pinned_version=_optional_int("ZKP_MODEL_VERSION")),
    },
)
