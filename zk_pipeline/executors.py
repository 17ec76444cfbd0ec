"""The executor of every job, chosen from the settings: the run's own process, or Celery workers.

``ZKP_EXECUTOR=in_process`` (the default): ``pool_wait.sleeping_in_process_executor``;
the run's steps execute one after the other in the run's process.

``ZKP_EXECUTOR=celery``: Dagster's dagster-celery executor. The run's process
submits each step as a Celery task and waits for its events; any worker
listening on the broker executes it. The steps of a backfill (several runs at
once) spread over the workers, and so do their proofs: the ``prover`` pool
limit (``dagster.yaml``) then bounds the proofs in flight across all workers.
Workers are started with the same environment as the code location::

    celery -A zk_pipeline.executors worker --pool=solo -n prover1@%h

The choice is explicit (a broker URL alone switches nothing): a run sent to a
broker no worker listens on would wait for ever.

Broker and result backend come from the settings, read when a run starts and
when a worker starts. They are never put into the run config, which Dagster
stores with every run: a password in ``ZKP_CELERY_BROKER_URL`` stays out of
the run records and the UI. Without ``ZKP_CELERY_BROKER_URL`` the broker is
the PostgreSQL the project already has (``DATABASE_URL``), through kombu's
SQLAlchemy transport; results go to the broker's own store (see
:func:`celery_urls`). A dedicated broker (``redis://``, ``amqp://``) is the
production choice; PostgreSQL needs nothing new and is polled once a second.

A worker acknowledges a task only when the step has finished
(``task_acks_late``) and reserves nothing beyond the task it executes: a busy
worker does not hold back a second proof that an idle worker could take. A
worker stopped by SIGTERM finishes its step first (Celery's warm shutdown).
"""

from __future__ import annotations

from typing import Any

from dagster import ExecutorDefinition, executor, multiple_process_executor_requirements
from dagster._core.execution.retries import RetryMode, get_retries_config
from sqlalchemy.pool import NullPool

from zk_pipeline.db.urls import with_psycopg2
from zk_pipeline.pool_wait import sleeping_in_process_executor
from zk_pipeline.settings import Settings, SettingsError, get_settings

#: Celery settings shared by the runs that submit tasks and the workers that execute them.
CELERY_CONFIG: dict[str, Any] = {"task_acks_late": True, "worker_prefetch_multiplier": 1}
#: The module holding the code location (``Definitions``), which a worker imports at start.
CODE_MODULE = "zk_pipeline.definitions"
#: Advisory lock under which a worker creates the PostgreSQL broker's tables.
BROKER_TABLES_LOCK = 0x7A6B705F63656C  # "zkp_cel"


def celery_urls(settings: Settings) -> tuple[str, str]:
    """(broker, result backend) of the settings.

    Broker: ``ZKP_CELERY_BROKER_URL``, else ``sqla+`` and the ``DATABASE_URL`` server. Backend:
    ``ZKP_CELERY_BACKEND_URL``, else the broker's store: ``db+`` and the same URL for a ``sqla+``
    broker (Celery's database backend), the same URL for Redis, ``rpc://`` for AMQP.
    """
    chosen = settings.executor
    if chosen.celery_broker_url is not None:
        broker = chosen.celery_broker_url.get_secret_value()
    elif settings.database.url is not None:
        broker = "sqla+" + with_psycopg2(settings.database.url.get_secret_value())
    else:
        raise SettingsError("ZKP_CELERY_BROKER_URL: unset, and no DATABASE_URL to use as the broker")
    if chosen.celery_backend_url is not None:
        return broker, chosen.celery_backend_url.get_secret_value()
    if broker.startswith("sqla+"):
        return broker, "db+" + broker.removeprefix("sqla+")
    if broker.startswith(("redis://", "rediss://")):
        return broker, broker
    return broker, "rpc://"


def _celery_executor(retries: RetryMode, settings: Settings):
    from dagster_celery.executor import CeleryExecutor

    broker, backend = celery_urls(settings)
    # A worker imports the code when it starts, not in its first step.
    return CeleryExecutor(retries=retries, broker=broker, backend=backend, include=[CODE_MODULE],
                          config_source=CELERY_CONFIG)


@executor(name="celery", config_schema={"retries": get_retries_config()},
          requirements=multiple_process_executor_requirements())
def settings_celery_executor(init_context):
    """dagster-celery's executor on the broker and backend of the settings (never of the run config)."""
    return _celery_executor(RetryMode.from_config(init_context.executor_config["retries"]), get_settings())


def pipeline_executor(settings: Settings | None = None) -> ExecutorDefinition:
    """The executor ``ZKP_EXECUTOR`` names."""
    settings = settings or get_settings()
    return settings_celery_executor if settings.executor.kind == "celery" else sleeping_in_process_executor


def _create_broker_tables(broker: str) -> None:
    """kombu's SQLAlchemy transport creates its tables at first connection, unlocked: two workers started
    at once collide (``duplicate key ... queue_id_sequence``) and one dies. A worker creates them
    under a PostgreSQL advisory lock before it connects."""
    from kombu import Connection
    from sqlalchemy import create_engine, text

    engine = create_engine(broker.removeprefix("sqla+"), poolclass=NullPool)
    try:
        with engine.connect() as lock:
            lock.execute(text("SELECT pg_advisory_lock(:key)"), {"key": BROKER_TABLES_LOCK})
            try:
                with Connection(broker) as connection:
                    connection.default_channel._open()  # kombu's engine for the URL: creates the tables
            finally:
                lock.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": BROKER_TABLES_LOCK})
    finally:
        engine.dispose()


def worker_app(settings: Settings | None = None):
    """The Celery app a worker runs: dagster-celery's step task, on the broker of the settings."""
    from dagster_celery.make_app import make_app
    from dagster_celery.tasks import create_task

    executor = _celery_executor(RetryMode.DISABLED, settings or get_settings())
    if executor.broker.startswith("sqla+postgresql"):
        _create_broker_tables(executor.broker)
    app = make_app(executor.app_args())
    create_task(app)
    return app


def __getattr__(name: str):
    """``celery -A zk_pipeline.executors`` looks up ``app``: built on first use, so that importing the
    module for its executor (every run, the code location) neither needs Celery nor reads the broker."""
    if name == "app":
        globals()["app"] = built = worker_app()
        return built
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
