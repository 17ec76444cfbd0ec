"""The Dagster code location: every asset, check, job, schedule and resource.

Resources are built from the settings (``zk_pipeline/settings.py``; README,
"Environment variables"); values that may carry credentials are passed as
``EnvVar`` so Dagster stores the variable's name, never its value.

Every run is started by Dagster (``automation.py``): the schedule, the
catch-up automation, and the sensors that turn the API's recorded requests
into runs. The seven assets form one group, ``allocation``: the UI collapses the global
lineage into one box per group, and draws a single group as its assets, so
the first screen shows the whole chain. Each asset's stage (the group its
module gives it: market_data, risk, proofs, decisions) becomes its ``stage``
tag, which the catalog can filter on.
"""

from __future__ import annotations

from dagster import AssetSpec, Definitions, EnvVar, load_assets_from_modules, map_asset_specs

from zk_pipeline.assets import market, proving, risk
from zk_pipeline.automation import (
    CATCH_UP, catch_up_automation, hourly_schedule, interrupted_proofs_sensor, proof_requests_sensor,
    run_requests_sensor,
)
from zk_pipeline.db import model_versions
from zk_pipeline.execution_automation import execution_job, execution_requests_sensor, execution_run_failures_sensor
from zk_pipeline.executors import pipeline_executor
from zk_pipeline.jobs import allocation_job, proof_request_job
from zk_pipeline.resources import (
    DatabaseResource, IntegrityResource, MetricsSourceResource, ProverResource, RiskModelResource,
)
from zk_pipeline.settings import get_settings

GROUP = "allocation"


def _one_group(spec: AssetSpec) -> AssetSpec:
    return spec.replace_attributes(group_name=GROUP, automation_condition=CATCH_UP).merge_attributes(
        tags={"stage": spec.group_name})


all_assets = map_asset_specs(_one_group, load_assets_from_modules([market, risk, proving]))


def _secret(name: str, value) -> EnvVar | None:
    """A value that may carry a credential, as an ``EnvVar``: Dagster then shows and stores the
    variable's name, never its value (the UI's resource page, the run snapshots in PostgreSQL)."""
    return EnvVar(name) if value is not None else None


settings = get_settings()  # a bad variable stops the code location here, with one line naming it
source, provers, integrity = settings.source, settings.provers, settings.integrity
model_versions.install()  # registered model versions run like code ones (zk_pipeline/risk/registry.py)

defs = Definitions(
    assets=all_assets,
    jobs=[allocation_job, proof_request_job, execution_job],
    schedules=[hourly_schedule],
    sensors=[catch_up_automation, run_requests_sensor, proof_requests_sensor, interrupted_proofs_sensor,
             execution_requests_sensor, execution_run_failures_sensor],
    # Runs the catch-up automation launches use it too (their implicit asset job has no executor of its own).
    executor=pipeline_executor(settings),
    resources={
        "database": DatabaseResource(url=EnvVar("DATABASE_URL")),
        "metrics_source": MetricsSourceResource(
            kind=source.kind,
            replay_path=str(source.replay_path) if source.replay_path else None,
            base_token=source.base_token,
            quote_token=source.quote_token,
            ekubo_api_url=source.ekubo_api_url,
            rpc_url=_secret("ZKP_STARKNET_RPC_URL", source.rpc_url),
            rpc_backup_url=_secret("ZKP_STARKNET_RPC_BACKUP_URL", source.rpc_backup_url),
        ),
        "risk_model": RiskModelResource(pinned_version=settings.risk.model_version),
        "prover": ProverResource(backends=list(provers.backends), command=_secret("ZKP_PROVER_COMMAND", provers.command),
                                 timeout_s=provers.timeout_s, max_attempts=provers.max_attempts,
                                 backoff_s=provers.backoff_s, min_security_bits=provers.min_security_bits,
                                 parallelism=provers.parallelism),
        "integrity": IntegrityResource(rpc_url=_secret("ZKP_INTEGRITY_RPC_URL", integrity.rpc_url),
                                       network=integrity.network, fact_registry=integrity.fact_registry),
    },
)
