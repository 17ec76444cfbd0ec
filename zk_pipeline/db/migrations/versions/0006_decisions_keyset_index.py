"""allocation decisions: index on (timestamp, decision_id), the list's order

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-08 12:00:00

``GET /risk-engine/decisions`` pages by keyset: ``WHERE (timestamp, decision_id) <
(:ts, :id) ORDER BY timestamp DESC, decision_id DESC LIMIT n``. With this index
PostgreSQL starts each page at the cursor and reads ``n`` entries, whatever the
history's length. It replaces the index on ``timestamp`` alone, which it covers
(its leading column). A year of hourly decisions is ~9,000 rows: the build takes
milliseconds, so it runs inside the migration's transaction.
"""

from __future__ import annotations

from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(op.f('ix_allocation_decisions_timestamp_decision_id'), 'allocation_decisions',
                    ['timestamp', 'decision_id'], schema='zkp')
    op.drop_index(op.f('ix_allocation_decisions_timestamp'), table_name='allocation_decisions', schema='zkp')


def downgrade() -> None:
    op.create_index(op.f('ix_allocation_decisions_timestamp'), 'allocation_decisions', ['timestamp'], schema='zkp')
    op.drop_index(op.f('ix_allocation_decisions_timestamp_decision_id'), table_name='allocation_decisions',
                  schema='zkp')
