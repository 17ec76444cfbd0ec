"""proof jobs, attempts, blobs and verified facts

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 23:50:44.346581
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('proof_blobs',
    sa.Column('proof_hash', sa.String(length=64), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('proof_hash', name=op.f('pk_proof_blobs')),
    schema='zkp'
    )
    op.create_table('proof_jobs',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('status', sa.Enum('queued', 'running', 'succeeded', 'failed', 'verified', 'rejected', name='proof_status', schema='zkp'), nullable=False),
    sa.Column('statement_hash', sa.String(length=64), nullable=False),
    sa.Column('statement', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('hour', sa.DateTime(timezone=True), nullable=True),
    sa.Column('model_version', sa.Integer(), nullable=True),
    sa.Column('model_hash', sa.String(length=66), nullable=True),
    sa.Column('source', sa.String(length=32), nullable=True),
    sa.Column('proof_hash', sa.String(length=64), nullable=True),
    sa.Column('program_hash', sa.String(length=66), nullable=True),
    sa.Column('output_hash', sa.String(length=66), nullable=True),
    sa.Column('fact_hash', sa.String(length=66), nullable=True),
    sa.Column('l2_fact_hash', sa.String(length=66), nullable=True),
    sa.Column('l2_verified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('generated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('proof_size', sa.Integer(), nullable=True),
    sa.Column('generation_time_ms', sa.Integer(), nullable=True),
    sa.Column('verification_time_ms', sa.Integer(), nullable=True),
    sa.Column('security_bits', sa.Integer(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_proof_jobs')),
    schema='zkp'
    )
    op.create_index(op.f('ix_proof_jobs_hour'), 'proof_jobs', ['hour'], unique=False, schema='zkp')
    op.create_index(op.f('ix_proof_jobs_statement_hash'), 'proof_jobs', ['statement_hash'], unique=False, schema='zkp')
    op.create_index(op.f('ix_proof_jobs_status'), 'proof_jobs', ['status'], unique=False, schema='zkp')
    op.create_table('proof_attempts',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('job_id', sa.String(length=36), nullable=False),
    sa.Column('backend', sa.String(length=32), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('duration_ms', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['job_id'], ['zkp.proof_jobs.id'], name=op.f('fk_proof_attempts_job_id_proof_jobs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_proof_attempts')),
    schema='zkp'
    )
    op.create_index(op.f('ix_proof_attempts_job_id'), 'proof_attempts', ['job_id'], unique=False, schema='zkp')
    op.create_table('verified_facts',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('fact_hash', sa.String(length=66), nullable=False),
    sa.Column('program_hash', sa.String(length=66), nullable=False),
    sa.Column('output_hash', sa.String(length=66), nullable=False),
    sa.Column('verification_hash', sa.String(length=66), nullable=True),
    sa.Column('security_bits', sa.Integer(), nullable=False),
    sa.Column('verifier', sa.String(length=16), nullable=False),
    sa.Column('proof_job_id', sa.String(length=36), nullable=True),
    sa.Column('verified_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['proof_job_id'], ['zkp.proof_jobs.id'], name=op.f('fk_verified_facts_proof_job_id_proof_jobs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_verified_facts')),
    sa.UniqueConstraint('fact_hash', 'verifier', name=op.f('uq_verified_facts_fact_hash_verifier')),
    schema='zkp'
    )
    op.create_index(op.f('ix_verified_facts_proof_job_id'), 'verified_facts', ['proof_job_id'], unique=False, schema='zkp')


def downgrade() -> None:
    op.drop_index(op.f('ix_verified_facts_proof_job_id'), table_name='verified_facts', schema='zkp')
    op.drop_table('verified_facts', schema='zkp')
    op.drop_index(op.f('ix_proof_attempts_job_id'), table_name='proof_attempts', schema='zkp')
    op.drop_table('proof_attempts', schema='zkp')
    op.drop_index(op.f('ix_proof_jobs_status'), table_name='proof_jobs', schema='zkp')
    op.drop_index(op.f('ix_proof_jobs_statement_hash'), table_name='proof_jobs', schema='zkp')
    op.drop_index(op.f('ix_proof_jobs_hour'), table_name='proof_jobs', schema='zkp')
    op.drop_table('proof_jobs', schema='zkp')
    op.drop_table('proof_blobs', schema='zkp')
    sa.Enum(name='proof_status', schema='zkp').drop(op.get_bind(), checkfirst=True)
