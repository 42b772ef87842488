"""browser sign-in: users.name and users.email, consents, client_resources

Users get two optional profile attributes (released with the `profile` and `email` scopes); existing
users get empty ones. `consents` remembers what a user allowed a client, one row per (realm, user,
client). `client_resources` maps each RFC 8707 resource identifier to the one client of the realm that
answers to it (the primary key keeps it unique). Its rows are built from the resources clients list in
their `data`: none on a database coming from 0003, but after this migration was undone (which drops the
consents and the resource rows, not the clients' lists) and is done again, their resources are back.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import orjson
import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('name', sa.String(length=255), server_default='', nullable=False))
        batch_op.add_column(sa.Column('email', sa.String(length=255), server_default='', nullable=False))

    op.create_table('consents',
    sa.Column('realm', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('client_id', sa.String(length=255), nullable=False),
    sa.Column('scopes', sa.Text(), nullable=False),
    sa.Column('resources', sa.Text(), nullable=False),
    sa.Column('grant_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('realm', 'user_id', 'client_id')
    )
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.create_index('ix_consents_user', ['realm', 'user_id'], unique=False)

    op.create_table('client_resources',
    sa.Column('realm', sa.String(length=64), nullable=False),
    sa.Column('resource', sa.String(length=2048), nullable=False),
    sa.Column('client_id', sa.String(length=255), nullable=False),
    sa.PrimaryKeyConstraint('realm', 'resource')
    )
    with op.batch_alter_table('client_resources', schema=None) as batch_op:
        batch_op.create_index('ix_client_resources_client', ['realm', 'client_id'], unique=False)
    _resources_from_clients()


def _resources_from_clients() -> None:
    """client_resources rows for the resources clients list already (the first client, by id, keeps one)."""
    clients = sa.table('clients', sa.column('realm'), sa.column('client_id'), sa.column('data'))
    listed = op.get_bind().execute(sa.select(clients.c.realm, clients.c.client_id, clients.c.data)
                                   .where(clients.c.data.like('%"resources"%'))
                                   .order_by(clients.c.realm, clients.c.client_id))
    owners: dict[tuple[str, str], str] = {}
    for realm, client_id, data in listed:
        for resource in orjson.loads(data).get('resources', ()):
            owners.setdefault((realm, resource), client_id)
    if owners:
        table = sa.table('client_resources', sa.column('realm'), sa.column('resource'), sa.column('client_id'))
        op.bulk_insert(table, [{'realm': realm, 'resource': resource, 'client_id': client_id}
                               for (realm, resource), client_id in owners.items()])


def downgrade() -> None:
    with op.batch_alter_table('client_resources', schema=None) as batch_op:
        batch_op.drop_index('ix_client_resources_client')
    op.drop_table('client_resources')
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.drop_index('ix_consents_user')
    op.drop_table('consents')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('email')
        batch_op.drop_column('name')
