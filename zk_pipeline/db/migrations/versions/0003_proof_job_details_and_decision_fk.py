"""proof job details and origin; decisions reference their proof job

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 20:40:00

``details`` keeps what a backend reported beside the proof bytes (the
Atlantic query id is needed to ask the service again when a stored proof is
re-verified). ``origin`` says who asked for the proof (``pipeline`` or
``api``), so the API can take up its own unfinished jobs after a restart
without touching a proof a Dagster run is making. The foreign key makes a decision's ``proof_job_id`` point at a
real job: a decision is only recorded for a verified proof.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('proof_jobs', sa.Column('details', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
                  schema='zkp')
    op.add_column('proof_jobs', sa.Column('origin', sa.String(length=16), server_default='pipeline', nullable=False),
                  schema='zkp')
    op.create_foreign_key(op.f('fk_allocation_decisions_proof_job_id_proof_jobs'), 'allocation_decisions',
                          'proof_jobs', ['proof_job_id'], ['id'], source_schema='zkp', referent_schema='zkp')


def downgrade() -> None:
    op.drop_constraint(op.f('fk_allocation_decisions_proof_job_id_proof_jobs'), 'allocation_decisions',
                       schema='zkp', type_='foreignkey')
    op.drop_column('proof_jobs', 'origin', schema='zkp')
    op.drop_column('proof_jobs', 'details', schema='zkp')
