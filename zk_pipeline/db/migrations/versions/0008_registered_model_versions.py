"""model_versions.origin, and registered versions the database keeps immutable

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-10 09:00:00

A model version is either defined in code (``risk/registry.py``, mirrored by
``sync_model_registry``: origin ``code``) or registered at run time through the API
or ``zkp model register`` (origin ``registered``). A registered version is
immutable: a trigger refuses any change to its definition and its deletion, so
not even a code version reusing its number can overwrite it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

FUNCTION = """
CREATE FUNCTION zkp.registered_model_version_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR NEW.version <> OLD.version OR NEW.model_hash <> OLD.model_hash
       OR NEW.params <> OLD.params OR NEW.canonical_definition <> OLD.canonical_definition
       OR NEW.description <> OLD.description OR NEW.origin <> OLD.origin THEN
        RAISE EXCEPTION 'model version % is registered and immutable', OLD.version
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END $$
"""

TRIGGER = """
CREATE TRIGGER registered_model_version_immutable BEFORE UPDATE OR DELETE ON zkp.model_versions
FOR EACH ROW WHEN (OLD.origin = 'registered') EXECUTE FUNCTION zkp.registered_model_version_immutable()
"""


def upgrade() -> None:
    op.add_column('model_versions', sa.Column('origin', sa.String(length=16), server_default='code', nullable=False),
                  schema='zkp')
    op.execute(FUNCTION)
    op.execute(TRIGGER)


def downgrade() -> None:
    op.execute("DROP TRIGGER registered_model_version_immutable ON zkp.model_versions")
    op.execute("DROP FUNCTION zkp.registered_model_version_immutable()")
    op.drop_column('model_versions', 'origin', schema='zkp')
