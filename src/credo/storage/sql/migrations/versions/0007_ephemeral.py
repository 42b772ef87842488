"""rate_hits, replay_marks: the rate limits and the replay cache of EphemeralState on the database

Failures stay in auth_failures (0002). Both tables hold only short-lived rows, purged once expired.

Revision ID: 0007_ephemeral
Revises: 0006_keys
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007_ephemeral'
down_revision = '0006_keys'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('rate_hits',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('hit_at', sa.BigInteger(), nullable=False),
    sa.Column('expires_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('rate_hits', schema=None) as batch_op:
        batch_op.create_index('ix_rate_hits_key', ['key', 'hit_at'], unique=False)
        batch_op.create_index('ix_rate_hits_expires_at', ['expires_at'], unique=False)
    op.create_table('replay_marks',
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('expires_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('key'),
    )
    with op.batch_alter_table('replay_marks', schema=None) as batch_op:
        batch_op.create_index('ix_replay_marks_expires_at', ['expires_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('replay_marks', schema=None) as batch_op:
        batch_op.drop_index('ix_replay_marks_expires_at')
    op.drop_table('replay_marks')
    with op.batch_alter_table('rate_hits', schema=None) as batch_op:
        batch_op.drop_index('ix_rate_hits_expires_at')
        batch_op.drop_index('ix_rate_hits_key')
    op.drop_table('rate_hits')
