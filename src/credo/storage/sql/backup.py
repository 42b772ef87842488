"""Back up and restore the database: SQLite through its online backup API, PostgreSQL with pg_dump and
pg_restore (custom format). The master key is never in a backup: it is kept separately (see
docs/production.md), and a restored database opens only with it."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy.engine import make_url


class BackupError(ValueError):
    """A backup or restore could not be made (the message says why)."""


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (None for another database)."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite"):
        return None
    if not parsed.database or parsed.database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up")
    return Path(parsed.database)


def backup(url: str, target: Path) -> None:
    """A consistent copy of the live database in `target` (a new file): SQLite's backup API copies while
    the server runs (writers wait only for each copied batch of pages); pg_dump reads one snapshot."""
    if target.exists():
        raise BackupError(f"{target} exists; give a new file")
    source = sqlite_path(url)
    if source is not None:
        if not source.exists():
            raise BackupError(f"no database at {source}")
        _sqlite_copy(source, target)
        return
    _run(["pg_dump", "--format=custom", "--no-owner", "--file", str(target)], url)


def restore(url: str, source: Path) -> None:
    """Restore a backup made by `backup` into the configured database, which must not exist (SQLite) or
    be empty (PostgreSQL: create it first). Migrations run at the next start or `credo db upgrade`."""
    if not source.exists():
        raise BackupError(f"no backup at {source}")
    target = sqlite_path(url)
    if target is not None:
        if target.exists():
            raise BackupError(f"{target} exists; restore into a new place (move the old file away first)")
        target.parent.mkdir(parents=True, exist_ok=True)
        _sqlite_copy(source, target)
        return
    _run(["pg_restore", "--no-owner", "--exit-on-error", "--single-transaction", str(source)], url)


def _sqlite_copy(source: Path, target: Path) -> None:
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        src.execute("PRAGMA busy_timeout=10000")
        dst = sqlite3.connect(target)
        try:
            src.backup(dst, pages=1024)
            dst.execute("PRAGMA journal_mode=WAL")
            if dst.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                raise BackupError(f"the copy in {target} failed its integrity check")
        finally:
            dst.close()
    except sqlite3.Error as exc:
        raise BackupError(f"SQLite: {exc}") from exc
    finally:
        src.close()
    os.chmod(target, 0o600)


def _run(command: list[str], url: str) -> None:
    """pg_dump / pg_restore against the database of `url`; its connection settings (password included)
    go through the environment, never the command line."""
    if shutil.which(command[0]) is None:
        raise BackupError(f"{command[0]} is not installed (PostgreSQL's client tools)")
    parsed = make_url(url)
    env = {**os.environ, "PGDATABASE": parsed.database or ""}
    for name, value in (("PGHOST", parsed.host), ("PGPORT", parsed.port), ("PGUSER", parsed.username),
                        ("PGPASSWORD", parsed.password)):
        if value is not None:
            env[name] = str(value)
    if command[0] == "pg_restore":
        command = [*command[:-1], "--dbname", parsed.database or "", command[-1]]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603 - fixed tools
    if done.returncode != 0:
        raise BackupError(f"{command[0]} failed: {done.stderr.strip()[-2000:]}")
