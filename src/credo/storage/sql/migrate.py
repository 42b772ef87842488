"""Apply Alembic migrations (at start-up and by `credo db upgrade`)."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
_REVISION = re.compile(r"^revision\s*=\s*['\"]([^'\"]+)['\"]\s*$", re.M)
_DOWN = re.compile(r"^down_revision\s*=\s*(.+?)\s*$", re.M)


def alembic_config(engine: Engine) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def script_head() -> str | None:
    """The single head revision of the migration scripts, read from the files (None if unclear)."""
    revisions, parents = set(), set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        source = path.read_text()
        rev, down = _REVISION.search(source), _DOWN.search(source)
        if rev is None or down is None:
            return None
        revisions.add(rev.group(1))
        parent = down.group(1).strip("'\"")
        if parent != "None":
            if not re.fullmatch(r"[\w-]+", parent):
                return None  # a merge point or something unusual: let Alembic decide
            parents.add(parent)
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def database_revisions(engine: Engine) -> set[str]:
    try:
        with engine.connect() as conn:
            return {row[0] for row in conn.execute(text("SELECT version_num FROM alembic_version"))}
    except SQLAlchemyError:
        return set()


def upgrade(engine: Engine) -> None:
    # Start-up fast path: a database already at head needs no Alembic (whose import alone takes a while).
    head = script_head()
    if head is not None and database_revisions(engine) == {head}:
        return
    from alembic import command

    logging.getLogger("alembic").setLevel(logging.WARNING)
    command.upgrade(alembic_config(engine), "head")


def schema_state(engine: Engine) -> tuple[bool, bool]:
    """(the database answers, its schema is at the scripts' head): the readiness check of `/health/ready`
    and `credo check`. Opens a connection of its own (it blocks: run it off the event loop)."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            try:
                revisions = {row[0] for row in conn.execute(text("SELECT version_num FROM alembic_version"))}
            except SQLAlchemyError:
                return True, False  # no alembic_version table: never migrated
    except SQLAlchemyError:
        return False, False
    head = script_head()
    return True, head is not None and revisions == {head}
