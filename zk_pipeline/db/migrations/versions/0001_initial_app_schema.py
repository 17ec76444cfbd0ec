"""initial app schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-26 23:35:36.767614
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('model_versions',
    sa.Column('version', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('model_hash', sa.String(length=66), nullable=False),
    sa.Column('params', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('canonical_definition', sa.Text(), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('is_current', sa.Boolean(), nullable=False),
    sa.Column('registered_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('version', name=op.f('pk_model_versions')),
    sa.UniqueConstraint('model_hash', name=op.f('uq_model_versions_model_hash')),
    schema='zkp'
    )
    op.create_table('protocol_metrics',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('protocol', sa.String(length=32), nullable=False),
    sa.Column('pool', sa.String(length=128), nullable=False),
    sa.Column('hour', sa.DateTime(timezone=True), nullable=False),
    sa.Column('price_e8', sa.BigInteger(), nullable=False),
    sa.Column('tvl_e6', sa.BigInteger(), nullable=False),
    sa.Column('volume_e6', sa.BigInteger(), nullable=False),
    sa.Column('fees_e6', sa.BigInteger(), nullable=False),
    sa.Column('repaired', sa.Boolean(), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('ingested_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_protocol_metrics')),
    sa.UniqueConstraint('protocol', 'pool', 'hour', name=op.f('uq_protocol_metrics_protocol_pool_hour')),
    schema='zkp'
    )
    op.create_index(op.f('ix_protocol_metrics_hour'), 'protocol_metrics', ['hour'], unique=False, schema='zkp')
    op.create_table('allocation_proposals',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('hour', sa.DateTime(timezone=True), nullable=False),
    sa.Column('model_version', sa.Integer(), nullable=False),
    sa.Column('model_hash', sa.String(length=66), nullable=False),
    sa.Column('jediswap_pct', sa.Integer(), nullable=False),
    sa.Column('ekubo_pct', sa.Integer(), nullable=False),
    sa.Column('jediswap_risk', sa.Integer(), nullable=False),
    sa.Column('ekubo_risk', sa.Integer(), nullable=False),
    sa.Column('statement_hash', sa.String(length=64), nullable=False),
    sa.Column('statement', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('computed_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['model_version'], ['zkp.model_versions.version'], name=op.f('fk_allocation_proposals_model_version_model_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_allocation_proposals')),
    sa.UniqueConstraint('hour', 'model_version', name=op.f('uq_allocation_proposals_hour_model_version')),
    schema='zkp'
    )
    op.create_index(op.f('ix_allocation_proposals_hour'), 'allocation_proposals', ['hour'], unique=False, schema='zkp')
    op.create_table('risk_features',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('hour', sa.DateTime(timezone=True), nullable=False),
    sa.Column('protocol', sa.String(length=32), nullable=False),
    sa.Column('model_version', sa.Integer(), nullable=False),
    sa.Column('n_observations', sa.Integer(), nullable=False),
    sa.Column('volatility_annualized_bps', sa.BigInteger(), nullable=False),
    sa.Column('volatility_bps', sa.Integer(), nullable=False),
    sa.Column('utilization_bps', sa.Integer(), nullable=False),
    sa.Column('apy_bps', sa.BigInteger(), nullable=False),
    sa.Column('liquidity_tier', sa.Integer(), nullable=False),
    sa.Column('age_days', sa.Integer(), nullable=False),
    sa.Column('tvl_e6', sa.BigInteger(), nullable=False),
    sa.Column('volume_24h_e6', sa.BigInteger(), nullable=False),
    sa.Column('fees_24h_e6', sa.BigInteger(), nullable=False),
    sa.Column('computed_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['model_version'], ['zkp.model_versions.version'], name=op.f('fk_risk_features_model_version_model_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_risk_features')),
    sa.UniqueConstraint('hour', 'protocol', 'model_version', name=op.f('uq_risk_features_hour_protocol_model_version')),
    schema='zkp'
    )
    op.create_index(op.f('ix_risk_features_hour'), 'risk_features', ['hour'], unique=False, schema='zkp')
    op.create_table('risk_scores',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('hour', sa.DateTime(timezone=True), nullable=False),
    sa.Column('protocol', sa.String(length=32), nullable=False),
    sa.Column('model_version', sa.Integer(), nullable=False),
    sa.Column('risk', sa.Integer(), nullable=False),
    sa.Column('components', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('computed_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['model_version'], ['zkp.model_versions.version'], name=op.f('fk_risk_scores_model_version_model_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_risk_scores')),
    sa.UniqueConstraint('hour', 'protocol', 'model_version', name=op.f('uq_risk_scores_hour_protocol_model_version')),
    schema='zkp'
    )
    op.create_index(op.f('ix_risk_scores_hour'), 'risk_scores', ['hour'], unique=False, schema='zkp')
    op.create_table('allocation_decisions',
    sa.Column('decision_id', sa.String(length=36), nullable=False),
    sa.Column('jediswap_pct', sa.Integer(), nullable=False),
    sa.Column('ekubo_pct', sa.Integer(), nullable=False),
    sa.Column('jediswap_risk', sa.Integer(), nullable=False),
    sa.Column('ekubo_risk', sa.Integer(), nullable=False),
    sa.Column('transaction_hash', sa.String(length=66), nullable=True),
    sa.Column('block_number', sa.BigInteger(), nullable=True),
    sa.Column('timestamp', sa.DateTime(timezone=True), nullable=False),
    sa.Column('proof_job_id', sa.String(length=36), nullable=True),
    sa.Column('model_version', sa.Integer(), nullable=False),
    sa.Column('model_hash', sa.String(length=66), nullable=False),
    sa.Column('proposal_id', sa.BigInteger(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['model_version'], ['zkp.model_versions.version'], name=op.f('fk_allocation_decisions_model_version_model_versions')),
    sa.ForeignKeyConstraint(['proposal_id'], ['zkp.allocation_proposals.id'], name=op.f('fk_allocation_decisions_proposal_id_allocation_proposals')),
    sa.PrimaryKeyConstraint('decision_id', name=op.f('pk_allocation_decisions')),
    sa.UniqueConstraint('timestamp', 'model_version', name=op.f('uq_allocation_decisions_timestamp_model_version')),
    schema='zkp'
    )
    op.create_index(op.f('ix_allocation_decisions_timestamp'), 'allocation_decisions', ['timestamp'], unique=False, schema='zkp')


def downgrade() -> None:
    op.drop_index(op.f('ix_allocation_decisions_timestamp'), table_name='allocation_decisions', schema='zkp')
    op.drop_table('allocation_decisions', schema='zkp')
    op.drop_index(op.f('ix_risk_scores_hour'), table_name='risk_scores', schema='zkp')
    op.drop_table('risk_scores', schema='zkp')
    op.drop_index(op.f('ix_risk_features_hour'), table_name='risk_features', schema='zkp')
    op.drop_table('risk_features', schema='zkp')
    op.drop_index(op.f('ix_allocation_proposals_hour'), table_name='allocation_proposals', schema='zkp')
    op.drop_table('allocation_proposals', schema='zkp')
    op.drop_index(op.f('ix_protocol_metrics_hour'), table_name='protocol_metrics', schema='zkp')
    op.drop_table('protocol_metrics', schema='zkp')
    op.drop_table('model_versions', schema='zkp')
