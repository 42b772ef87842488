"""Helpers shared by the CLI commands: open the configured storage and services."""

from __future__ import annotations

import sys

import typer

from credo.app import build_services, open_storage
from credo.oauth.services import Services
from credo.settings import Settings


def open_services(settings: Settings | None = None, *, note_new_database: bool = True) -> Services:
    settings = settings or Settings()
    if note_new_database:
        _note_new_database(settings)
    storage = open_storage(settings)
    return build_services(settings, storage, base_url=settings.resolved_public_url())


def _note_new_database(settings: Settings) -> None:
    """The default SQLite file lives under the current directory: tell a person at a terminal when a
    command is about to create a new, empty one (typically: run from another directory than the server)."""
    if not sys.stderr.isatty():  # a note for a person at a terminal; scripts and pipes parse the output
        return
    if settings.database_url is None and not (path := settings.data_dir / "credo.db").exists():
        typer.echo(f"note: no database at {path.resolve()}; creating a new, empty one. Run credo in the "
                   "directory the server runs in, or set CREDO_DATA_DIR or CREDO_DATABASE_URL.", err=True)
