"""token_usage: tokens issued per realm, grant type and minute (the console's overview)

Revision ID: 0010_token_usage
Revises: 0009_token_holders
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010_token_usage'
down_revision = '0009_token_holders'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'token_usage',
        sa.Column('realm', sa.String(length=64), nullable=False),
        sa.Column('grant_type', sa.String(length=128), nullable=False),
        sa.Column('minute', sa.BigInteger(), nullable=False),
        sa.Column('issued', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('realm', 'grant_type', 'minute'),
    )


def downgrade() -> None:
    op.drop_table('token_usage')
