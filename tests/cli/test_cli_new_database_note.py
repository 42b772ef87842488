"""At a terminal, the CLI says when it creates a new, empty database (run from another directory than
the server), instead of only answering that the realm does not exist. Pipes get no note."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

from tests.procs import credo_env, run_cli


def _at_terminal(tmp_path: Path, *args: str) -> tuple[int, str]:
    """Run the CLI with its stderr on a pseudo-terminal; returns the exit status and what it wrote there."""
    env = credo_env(tmp_path)
    main, child = pty.openpty()
    try:
        done = subprocess.run([sys.executable, "-m", "credo.cli.main", *args], cwd=tmp_path, env=env,
                              stdout=subprocess.PIPE, stderr=child, timeout=60, check=False)
        os.close(child)
        child = -1
        chunks = []
        while True:
            try:
                data = os.read(main, 4096)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        return done.returncode, b"".join(chunks).decode().replace("\r\n", "\n")
    finally:
        os.close(main)
        if child != -1:
            os.close(child)


def test_note_at_a_terminal(tmp_path: Path) -> None:
    status, err = _at_terminal(tmp_path, "realm", "settings", "alpha")
    assert status == 1
    lines = err.strip().splitlines()
    assert lines[0].startswith(f"note: no database at {(tmp_path / 'credo.db').resolve()}; creating a new, empty one.")
    assert lines[-1] == "error: Realm 'alpha' does not exist."
    status, err = _at_terminal(tmp_path, "realm", "list")
    assert status == 0 and "note:" not in err


def test_no_note_in_a_pipe(tmp_path: Path) -> None:
    done = run_cli(tmp_path, "realm", "settings", "alpha")
    assert done.returncode == 1 and done.stderr == "error: Realm 'alpha' does not exist.\n"
