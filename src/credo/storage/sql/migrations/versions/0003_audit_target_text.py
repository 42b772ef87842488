"""audit_events.target: TEXT instead of VARCHAR(255)

A target can be longer than 255 characters: a policy's `agent->application` names two client ids of up
to 255 characters each, and a refused token exchange records the audience the caller asked for. On
PostgreSQL such a write failed (and the request with it); the column now keeps any target whole, so the
record is complete and a lookup by target finds it.

SQLite does not enforce VARCHAR lengths, so the column is left as it is there: changing it would copy
the whole audit log into a new table.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    op.alter_column('audit_events', 'target', type_=sa.Text(), existing_type=sa.String(length=255),
                    existing_nullable=False)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    op.alter_column('audit_events', 'target', type_=sa.String(length=255), existing_type=sa.Text(),
                    existing_nullable=False)
