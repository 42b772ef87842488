"""data_keys: envelope encryption of the secrets behind signing-key sealing and token hashing

The master key used to seal private keys and key the hashes of secrets and tokens directly, so a new
master key would have invalidated every stored hash. Now the master key seals a data key (this table),
and the data key does that work: `credo keys rewrap` re-seals one row. An existing installation gets, on
first start after this migration, a data key equal to what its master key derived before (its hashes and
sealed keys stay valid); a new installation gets a random one.

Revision ID: 0006_keys
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006_keys'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'data_keys',
        sa.Column('name', sa.String(length=32), nullable=False),
        sa.Column('sealed', sa.LargeBinary(), nullable=False),
        sa.Column('master_id', sa.String(length=32), nullable=False),
        sa.Column('created_at', sa.BigInteger(), nullable=False),
        sa.Column('updated_at', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('name'),
    )


def downgrade() -> None:
    op.drop_table('data_keys')
