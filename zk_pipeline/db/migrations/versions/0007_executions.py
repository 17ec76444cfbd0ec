"""executions: the one Starknet transaction of each decision

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-09 12:00:00

A verified decision is sent to Starknet at most once: one row per decision (its
primary key), the transaction recorded (hash, nonce, calldata, bounds, signature)
before it is sent, its outcome (block, fee, revert reason) when the receipt comes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    status = sa.Enum('prepared', 'submitted', 'accepted', 'reverted', 'failed', name='execution_status',
                     schema='zkp')
    op.create_table(
        'executions',
        sa.Column('decision_id', sa.String(length=36), nullable=False),
        sa.Column('status', status, nullable=False),
        sa.Column('target', sa.String(length=16), nullable=False),
        sa.Column('contract_address', sa.String(length=66), nullable=False),
        sa.Column('entry_point', sa.String(length=64), nullable=False),
        sa.Column('sender_address', sa.String(length=66), nullable=False),
        sa.Column('public_key', sa.String(length=66), nullable=False),
        sa.Column('chain_id', sa.String(length=66), nullable=True),
        sa.Column('nonce', sa.BigInteger(), nullable=True),
        sa.Column('calldata', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column('resource_bounds', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column('signature', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column('transaction_hash', sa.String(length=66), nullable=True),
        sa.Column('block_number', sa.BigInteger(), nullable=True),
        sa.Column('actual_fee', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['decision_id'], ['zkp.allocation_decisions.decision_id'],
                                name=op.f('fk_executions_decision_id_allocation_decisions')),
        sa.PrimaryKeyConstraint('decision_id', name=op.f('pk_executions')),
        schema='zkp',
    )
    op.create_index(op.f('ix_executions_status'), 'executions', ['status'], schema='zkp')
    op.create_index(op.f('ix_executions_transaction_hash'), 'executions', ['transaction_hash'], unique=True,
                    schema='zkp')


def downgrade() -> None:
    op.drop_index(op.f('ix_executions_transaction_hash'), table_name='executions', schema='zkp')
    op.drop_index(op.f('ix_executions_status'), table_name='executions', schema='zkp')
    op.drop_table('executions', schema='zkp')
    sa.Enum(name='execution_status', schema='zkp').drop(op.get_bind(), checkfirst=True)
