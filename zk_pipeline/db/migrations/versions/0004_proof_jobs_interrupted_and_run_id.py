"""proof jobs: status ``interrupted`` and the Dagster run that asked for the proof

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 10:00:00

A run whose process dies mid-proof (SIGKILL, PostgreSQL gone) can no longer
close its proof job; the daemon does it for that run (``run_id``) and the job
ends ``interrupted`` with the reason, instead of staying ``running`` for ever.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Committed on its own: PostgreSQL refuses a new enum value in the transaction that added it, and
    # later migrations of the same upgrade (0005) use it.
    with op.get_context().autocommit_block():
        op.execute("ALTER TYPE zkp.proof_status ADD VALUE IF NOT EXISTS 'interrupted'")
    op.add_column('proof_jobs', sa.Column('run_id', sa.String(length=64), nullable=True), schema='zkp')


def downgrade() -> None:
    # PostgreSQL cannot drop an enum value: interrupted jobs become failed, the value stays unused.
    op.execute("UPDATE zkp.proof_jobs SET status = 'failed' WHERE status = 'interrupted'")
    op.drop_column('proof_jobs', 'run_id', schema='zkp')
