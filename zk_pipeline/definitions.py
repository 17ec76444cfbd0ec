"""The Dagster code location: every asset, check, job, schedule and resource.

Resources read the environment (see README, "Environment variables"):
``DATABASE_URL`` for PostgreSQL, ``ZKP_METRICS_SOURCE`` / ``ZKP_REPLAY_PATH``
for the metrics source, ``ZKP_MODEL_VERSION`` to pin a model, ``ZKP_INTEGRITY_*``
for the on-chain fact check, ``ZKP_PARTITIONS_START`` for the first partition.

Every run is started by Dagster (``automation.py``): the schedule, the
catch-up automation, and the sensors that turn the API's recorded requests
into runs. The seven assets form one group, ``allocation``: the UI collapses the global
lineage into one box per group, and draws a single group as its assets, so
the first screen shows the whole chain. Each asset's stage (the group its
module gives it: market_data, risk, proofs, decisions) becomes its ``stage``
tag, which the catalog can filter on.
"""

from __future__ import annotations

import os

from dagster import AssetSpec, Definitions, EnvVar, load_assets_from_modules, map_asset_specs

from zk_pipeline.assets import market, proofs, risk
from zk_pipeline.automation import (
    CATCH_UP, catch_up_automation, hourly_schedule, interrupted_proofs_sensor, proof_requests_sensor,
    run_requests_sensor,
)
from zk_pipeline.jobs import allocation_job, proof_request_job
from zk_pipeline.pool_wait import sleeping_in_process_executor
from zk_pipeline.provers.config import prover_settings_from_env
from zk_pipeline.resources import (
    DatabaseResource, IntegrityResource, MetricsSourceResource, ProverResource, RiskModelResource,
)

GROUP = "allocation"


def _one_group(spec: AssetSpec) -> AssetSpec:
    return spec.replace_attributes(group_name=GROUP, automation_condition=CATCH_UP).merge_attributes(
        tags={"stage": spec.group_name})


all_assets = map_asset_specs(_one_group, load_assets_from_modules([market, risk, proofs]))


def _secret(name: str) -> EnvVar | None:
    """A value that may carry a credential, as an ``EnvVar``: Dagster then shows and stores the
    variable's name, never its value (the UI's resource page, the run snapshots in PostgreSQL)."""
    return EnvVar(name) if os.environ.get(name) else None


def _optional_int(name: str) -> int | None:
    value = os.environ.get(name)
    return int(value) if value else None


defs = Definitions(
    assets=all_assets,
    jobs=[allocation_job, proof_request_job],
    schedules=[hourly_schedule],
    sensors=[catch_up_automation, run_requests_sensor, proof_requests_sensor, interrupted_proofs_sensor],
    # Runs the catch-up automation launches use it too (their implicit asset job has no executor of its own).
    executor=sleeping_in_process_executor,
    resources={
        "database": DatabaseResource(url=EnvVar("DATABASE_URL")),
        "metrics_source": MetricsSourceResource(
            kind=os.environ.get("ZKP_METRICS_SOURCE", "replay"),
            replay_path=os.environ.get("ZKP_REPLAY_PATH") or None,
            base_token=os.environ.get("ZKP_BASE_TOKEN", "WBTC"),
            quote_token=os.environ.get("ZKP_QUOTE_TOKEN", "USDC"),
            ekubo_api_url=os.environ.get("ZKP_EKUBO_API_URL", "https://prod-api.ekubo.org"),
            rpc_url=_secret("ZKP_STARKNET_RPC_URL"),
            rpc_backup_url=_secret("ZKP_STARKNET_RPC_BACKUP_URL"),
            retries=int(os.environ.get("ZKP_SOURCE_RETRIES") or 3),
            retry_backoff_s=float(os.environ.get("ZKP_SOURCE_BACKOFF_S") or 5.0),
        ),
        "risk_model": RiskModelResource(pinned_version=_optional_int("ZKP_MODEL_VERSION")),
        "prover": ProverResource(**{**prover_settings_from_env(), "command": _secret("ZKP_PROVER_COMMAND")}),
        "integrity": IntegrityResource(rpc_url=_secret("ZKP_INTEGRITY_RPC_URL"),
                                       network=os.environ.get("ZKP_INTEGRITY_NETWORK") or None,
                                       fact_registry=os.environ.get("ZKP_INTEGRITY_FACT_REGISTRY") or None),
    },
)
