"""Alembic environment: runs against the engine handed over by credo.storage.sql.migrate."""

from __future__ import annotations

from alembic import context

from credo.storage.sql.tables import metadata

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    context.run_migrations()
