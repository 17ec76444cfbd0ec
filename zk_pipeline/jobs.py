"""The jobs Dagster runs: the hourly graph, and one proof the API recorded.

Both use the executor ``ZKP_EXECUTOR`` names (``executors.py``): by default the
in-process executor whose wait for a pool sleeps (``pool_wait``) — the graph is
a chain (nothing to run in parallel) and the prover runs in a child process
anyway, so a process per step would only add ~4 s of start-up to each step —
or Celery workers. Every proof — the pipeline's ``allocation_proof`` and
``prove_requested_statement`` here — runs in the ``prover`` pool.
"""

from dagster import AssetSelection, Config, Failure, MetadataValue, OpExecutionContext, Output, define_asset_job, job, op
from sqlalchemy.orm import sessionmaker

from zk_pipeline.assets.proving import attempts_table
from zk_pipeline.db.session import get_engine
from zk_pipeline.executors import pipeline_executor
from zk_pipeline.prover_pipes import prover_pipes
from zk_pipeline.provers.orchestrator import ProofJobFailed, run_job
from zk_pipeline.resources import DatabaseResource, ProverResource
from zk_pipeline.services import dagster_runs, proof_requests

allocation_job = define_asset_job(
    dagster_runs.ALLOCATION_JOB,
    selection=AssetSelection.all(),
    executor_def=pipeline_executor(),
    description="Metrics → features → risk → allocation → proof → fact → decision for one hour.",
)


class ProofRequestConfig(Config):
    proof_job_id: str


@op(pool="prover")
def prove_requested_statement(context: OpExecutionContext, config: ProofRequestConfig, database: DatabaseResource,
                              prover: ProverResource) -> Output[str]:
    """Prove the statement of one API proof job with the prover chain; the job records every attempt."""
    factory = sessionmaker(get_engine(database.url), expire_on_commit=False)
    job_id = config.proof_job_id
    with factory.begin() as s:
        job = proof_requests.take_up(s, job_id, context.run_id)
        status = None if job is None else job.status.value
    if job is None:
        context.log.info(f"proof job {job_id}: nothing to prove (gone or already final)")
        return Output(job_id, metadata={"proof_job_id": job_id, "proved": False})
    backends = prover.build(on_start=lambda pid: context.log.info(f"prover process {pid} started"))
    try:
        with prover_pipes(context) as children:
            outcome = run_job(factory, job_id, backends, prover.policy())
    except ProofJobFailed as exc:
        with factory() as s:
            table = attempts_table(s, job_id)
        raise Failure(description=str(exc), metadata={"proof_job_id": job_id, "attempts": MetadataValue.md(table),
                                                      **children.metadata()}, allow_retries=False) from None
    done = outcome.job
    with factory() as s:
        table = attempts_table(s, job_id)
    return Output(job_id, metadata={
        "proof_job_id": job_id, "proved": True, "taken_up_from": status, "prover": done.source,
        "prove_ms": done.generation_time_ms, "verify_ms": done.verification_time_ms, "proof_bytes": done.proof_size,
        "security_bits": done.security_bits, "statement_hash": done.statement_hash, "fact_hash": done.fact_hash,
        "attempts": MetadataValue.md(table), **children.metadata()})


@job(executor_def=pipeline_executor(), tags={dagster_runs.LAUNCHED_BY_TAG: "api"},
     description="One proof requested through the API (POST /proofs/generate), in the prover pool.")
def proof_request_job():
    prove_requested_statement()
