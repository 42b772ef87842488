"""tokens: indexes on (realm, sub) and (realm, client_id), for the console's lists of a user's or a client's tokens

Revision ID: 0009_token_holders
Revises: 0008_burns_counter
"""

from __future__ import annotations

from alembic import op

revision = '0009_token_holders'
down_revision = '0008_burns_counter'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_tokens_realm_sub', 'tokens', ['realm', 'sub'])
    op.create_index('ix_tokens_realm_client', 'tokens', ['realm', 'client_id'])


def downgrade() -> None:
    op.drop_index('ix_tokens_realm_client', table_name='tokens')
    op.drop_index('ix_tokens_realm_sub', table_name='tokens')
