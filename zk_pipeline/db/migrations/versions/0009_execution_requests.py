"""execution_requests: the API's (and the automation's) requests to execute a decision

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-10 10:00:00

The API records a request; ``execution_requests_sensor`` makes it one run of
``execution_job``. One pending request per decision (partial unique index).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    state = sa.Enum('pending', 'launched', 'finished', 'failed', name='execution_request_state', schema='zkp')
    op.create_table(
        'execution_requests',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('decision_id', sa.String(length=36), nullable=False),
        sa.Column('send', sa.Boolean(), nullable=False),
        sa.Column('origin', sa.String(length=16), nullable=False),
        sa.Column('state', state, nullable=False),
        sa.Column('run_id', sa.String(length=64), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('launched_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['decision_id'], ['zkp.allocation_decisions.decision_id'],
                                name=op.f('fk_execution_requests_decision_id_allocation_decisions')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_execution_requests')),
        schema='zkp',
    )
    op.create_index('uq_execution_requests_pending_decision', 'execution_requests', ['decision_id'], unique=True,
                    schema='zkp', postgresql_where=sa.text("state = 'pending'"))
    op.create_index(op.f('ix_execution_requests_decision_id_created_at'), 'execution_requests',
                    ['decision_id', 'created_at'], schema='zkp')
    op.create_index(op.f('ix_execution_requests_state'), 'execution_requests', ['state'], schema='zkp')


def downgrade() -> None:
    op.drop_table('execution_requests', schema='zkp')
    sa.Enum(name='execution_request_state', schema='zkp').drop(op.get_bind(), checkfirst=True)
