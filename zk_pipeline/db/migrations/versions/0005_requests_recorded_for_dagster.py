"""requests the API records for Dagster: orchestration requests; one open API proof job per statement

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 12:00:00

The API no longer runs work itself: it records a request and Dagster's sensors turn
each one into exactly one run. ``orchestration_requests`` holds the hours asked for;
a partial unique index keeps one pending request per hour, and another keeps one open
(queued or running) API proof job per statement, so concurrent API processes need no
locks of their own. API jobs left ``queued``/``running`` by the old in-API workers are
left as they are: the proof-request sensor takes the queued ones up; running ones are
closed as interrupted (their process is gone).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    state = sa.Enum('pending', 'launched', name='run_request_state', schema='zkp')
    op.create_table(
        'orchestration_requests',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('partition_key', sa.String(length=16), nullable=False),
        sa.Column('state', state, nullable=False),
        sa.Column('run_id', sa.String(length=64), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('launched_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_orchestration_requests')),
        schema='zkp',
    )
    op.create_index('uq_orchestration_requests_pending_hour', 'orchestration_requests', ['partition_key'],
                    unique=True, schema='zkp', postgresql_where=sa.text("state = 'pending'"))
    op.create_index(op.f('ix_orchestration_requests_run_id'), 'orchestration_requests', ['run_id'], schema='zkp')
    # Old in-API workers: a running API job has no process any more; duplicates of an open statement
    # (possible before this index) keep the oldest open.
    op.execute("UPDATE zkp.proof_jobs SET status = 'interrupted', "
               "last_error = 'interrupted: the API process proving it was replaced by Dagster runs' "
               "WHERE origin = 'api' AND status = 'running'")
    op.execute("UPDATE zkp.proof_jobs j SET status = 'interrupted', last_error = 'superseded by an identical request' "
               "WHERE origin = 'api' AND status = 'queued' AND EXISTS (SELECT 1 FROM zkp.proof_jobs o "
               "WHERE o.origin = 'api' AND o.status = 'queued' AND o.statement_hash = j.statement_hash "
               "AND (o.created_at, o.id) < (j.created_at, j.id))")
    op.create_index('uq_proof_jobs_open_api_request', 'proof_jobs', ['statement_hash'], unique=True, schema='zkp',
                    postgresql_where=sa.text("origin = 'api' AND status IN ('queued', 'running')"))


def downgrade() -> None:
    op.drop_index('uq_proof_jobs_open_api_request', table_name='proof_jobs', schema='zkp')
    op.drop_index(op.f('ix_orchestration_requests_run_id'), table_name='orchestration_requests', schema='zkp')
    op.drop_index('uq_orchestration_requests_pending_hour', table_name='orchestration_requests', schema='zkp')
    op.drop_table('orchestration_requests', schema='zkp')
    sa.Enum(name='run_request_state', schema='zkp').drop(op.get_bind(), checkfirst=True)
