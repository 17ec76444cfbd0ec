"""hour_failures: the hours of a ranged run that an asset could not compute

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 15:00:00

A backfill run covers many hours; one bad hour is recorded here and skipped by
the run's later assets instead of failing the whole range.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'hour_failures',
        sa.Column('run_id', sa.String(length=64), nullable=False),
        sa.Column('hour', sa.DateTime(timezone=True), nullable=False),
        sa.Column('asset', sa.String(length=64), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('recorded_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.PrimaryKeyConstraint('run_id', 'hour', name=op.f('pk_hour_failures')),
        schema='zkp',
    )


def downgrade() -> None:
    op.drop_table('hour_failures', schema='zkp')
