"""Backup and restore (`credo backup`, `credo restore`), on SQLite (the online backup API, taken while a
server runs) and PostgreSQL (pg_dump / pg_restore): issue tokens, back up, destroy the database, restore
it into a fresh place with the master key kept apart, and the same tokens still introspect active, the
same JWT verifies against the published keys, the same client secrets authenticate. A restore refuses to
overwrite, and one opened with another master key says so."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from credo.app import open_storage
from credo.cli.main import app as cli
from credo.keys.datakeys import DataKeyLocked, master_id
from credo.storage.sql.backup import BackupError
from tests.held_tokens import assert_still_good, issue
from tests.support import MASTER_KEY, in_process_server, postgres_database, postgres_reachable
from tests.support import test_settings as settings_for

OTHER_KEY = "another-master-key-0123456789abcdefghij"


def _cli(args: list[str], env: dict[str, str]) -> dict[str, object]:
    result = CliRunner().invoke(cli, args, env={"CREDO_MASTER_KEY": MASTER_KEY, "CREDO_DATABASE_URL": None, **env})
    if result.exception is not None:
        raise result.exception
    return dict(json.loads(result.output))


def test_sqlite_backup_destroy_restore(tmp_path: Path) -> None:
    live, fresh, backup = tmp_path / "live", tmp_path / "fresh", tmp_path / "backups" / "credo.backup"
    backup.parent.mkdir()
    store = open_storage(settings_for(live))
    try:
        with in_process_server(store, live) as server:
            held = issue(server)
            made = _cli(["backup", str(backup)], {"CREDO_DATA_DIR": str(live)})  # while the server runs
            assert made == {"backup": str(backup), "master_key_id": master_id(MASTER_KEY.encode())}
            assert backup.stat().st_mode & 0o777 == 0o600
            with pytest.raises(BackupError, match="exists"):
                _cli(["backup", str(backup)], {"CREDO_DATA_DIR": str(live)})
    finally:
        store.close()
    shutil.rmtree(live)  # destroyed: the database, its WAL, the data directory

    with pytest.raises(DataKeyLocked, match="sealed by master key"):  # the master key is not in the backup
        _cli(["restore", str(backup)], {"CREDO_DATA_DIR": str(tmp_path / "elsewhere"), "CREDO_MASTER_KEY": OTHER_KEY})
    assert _cli(["restore", str(backup)], {"CREDO_DATA_DIR": str(fresh)}) == {
        "restored": f"sqlite:///{(fresh / 'credo.db').resolve()}"}
    with pytest.raises(BackupError, match="exists"):  # never over a database
        _cli(["restore", str(backup)], {"CREDO_DATA_DIR": str(fresh)})
    store = open_storage(settings_for(fresh))
    try:
        with in_process_server(store, fresh) as restored:
            assert_still_good(restored, held)
    finally:
        store.close()


@pytest.mark.skipif(postgres_reachable() is not None or shutil.which("pg_dump") is None,
                    reason=str(postgres_reachable() or "pg_dump is not installed"))
def test_postgres_backup_destroy_restore(tmp_path: Path) -> None:
    backup = tmp_path / "credo.dump"
    with postgres_database() as url:
        store = open_storage(settings_for(tmp_path, database_url=url))
        try:
            with in_process_server(store, tmp_path) as server:
                held = issue(server)
                _cli(["backup", str(backup)], {"CREDO_DATABASE_URL": url, "CREDO_DATA_DIR": str(tmp_path)})
        finally:
            store.close()
    # The database is dropped; a new, empty one receives the backup.
    with postgres_database() as url:
        with pytest.raises(BackupError, match="no backup"):
            _cli(["restore", str(tmp_path / "absent")], {"CREDO_DATABASE_URL": url, "CREDO_DATA_DIR": str(tmp_path)})
        _cli(["restore", str(backup)], {"CREDO_DATABASE_URL": url, "CREDO_DATA_DIR": str(tmp_path)})
        store = open_storage(settings_for(tmp_path, database_url=url))
        try:
            with in_process_server(store, tmp_path) as restored:
                assert_still_good(restored, held)
        finally:
            store.close()
