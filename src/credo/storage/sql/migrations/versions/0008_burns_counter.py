"""change_counter.burns: moves on every burned one-time id

The caches of burned one-time ids (revocations, consumed initial access tokens, deletion marks) are
dropped when it moves, as the record caches are when `n` does; both are read in one statement.

Revision ID: 0008_burns_counter
Revises: 0007_ephemeral
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008_burns_counter'
down_revision = '0007_ephemeral'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('change_counter', schema=None) as batch_op:
        batch_op.add_column(sa.Column('burns', sa.BigInteger(), server_default='0', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('change_counter', schema=None) as batch_op:
        batch_op.drop_column('burns')
