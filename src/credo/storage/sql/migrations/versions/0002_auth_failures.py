"""auth_failures: failed authentications shared by all processes (the failure throttles)

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('auth_failures',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('failed_at', sa.BigInteger(), nullable=False),
    sa.Column('expires_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sqlite_autoincrement=True,
    )
    with op.batch_alter_table('auth_failures', schema=None) as batch_op:
        batch_op.create_index('ix_auth_failures_expires_at', ['expires_at'], unique=False)
        batch_op.create_index('ix_auth_failures_key_hash', ['key_hash', 'failed_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('auth_failures', schema=None) as batch_op:
        batch_op.drop_index('ix_auth_failures_key_hash')
        batch_op.drop_index('ix_auth_failures_expires_at')
    op.drop_table('auth_failures')
