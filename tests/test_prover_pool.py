"""The ``prover`` concurrency pool: two runs at once never prove at the same time.

Two separate processes materialize two different hours against one Dagster
instance configured by the repository's own ``dagster.yaml`` (PostgreSQL
storage, ``concurrency.pools.default_limit: 1``). The second run's proof step
must wait for the first one's slot, so the recorded proof attempts do not
overlap in time, while both hours still get their decision.
"""

from __future__ import annotations

import pytest

import os
import shutil
import subprocess
import sys
import textwrap

from sqlalchemy import select

from tests.conftest import ROOT
from zk_pipeline.db.models import AllocationDecision, ProofAttempt
from zk_pipeline.db.session import session_scope
from zk_pipeline.db.urls import with_psycopg2

HOURS = ["2026-11-22-03:00", "2026-11-22-04:00"]

WORKER = textwrap.dedent("""
    import sys
    from dagster import DagsterInstance, materialize
    from tests.helpers import pipeline_resources
    from zk_pipeline.definitions import all_assets

    url, partition = sys.argv[1], sys.argv[2]
    with DagsterInstance.get() as instance:
        result = materialize(all_assets, partition_key=partition, resources=pipeline_resources(url),
                             instance=instance, raise_on_error=False)
    sys.exit(0 if result.success else 1)
""")


@pytest.mark.slow
def test_two_runs_queue_for_the_single_prover_slot(db_url, tmp_path, monkeypatch):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "deploy" / "dagster.yaml", home / "dagster.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(home), "DAGSTER_PG_URL": with_psycopg2(db_url), "DATABASE_URL": db_url}
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, db_url, hour], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for hour in HOURS]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], "\n".join(o[-3000:] for o in outputs)

    with session_scope(db_url) as s:
        attempts = s.scalars(select(ProofAttempt).order_by(ProofAttempt.started_at)).all()
        decisions = s.scalars(select(AllocationDecision)).all()
    assert len(decisions) == 2
    assert [a.outcome for a in attempts] == ["succeeded", "succeeded"]
    first, second = attempts
    # One slot: the second proof started only after the first one had finished.
    assert second.started_at >= first.finished_at, (first.started_at, first.finished_at, second.started_at)

    from dagster import DagsterInstance

    monkeypatch.setenv("DAGSTER_PG_URL", with_psycopg2(db_url))
    with DagsterInstance.from_config(str(home)) as instance:
        info = instance.event_log_storage.get_concurrency_info("prover")
    assert info.slot_count == 1
