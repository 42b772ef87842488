"""Run the `credo` command line in a subprocess against a test server's database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support import MASTER_KEY


def run_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CREDO_DATA_DIR": str(tmp_path), "CREDO_MASTER_KEY": MASTER_KEY}
    env.pop("CREDO_DATABASE_URL", None)
    return subprocess.run([sys.executable, "-m", "credo.cli.main", *args], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=60, check=False)
