"""The CLI says when it creates a new, empty database (run from another directory than the server),
instead of silently answering that the realm does not exist."""

from __future__ import annotations

from pathlib import Path

from tests.qa.cli_support import run_cli


def test_note_when_creating_a_database(tmp_path: Path) -> None:
    first = run_cli(tmp_path, "realm", "settings", "alpha")
    assert first.returncode == 2
    lines = first.stderr.strip().splitlines()
    assert lines[0].startswith(f"note: no database at {(tmp_path / 'credo.db').resolve()}; creating a new, empty one.")
    assert lines[-1] == "error: Realm 'alpha' does not exist."
    again = run_cli(tmp_path, "realm", "list")
    assert again.returncode == 0 and again.stderr == ""
