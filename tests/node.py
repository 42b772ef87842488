"""Running the JavaScript clients of tests/js with node: installing their packages once (npm), and a
reason to skip when node, npm or the package is not available."""

from __future__ import annotations

import fcntl
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

JS = Path(__file__).resolve().parent / "js"


def node_unavailable(package: str) -> str | None:
    """None when node can run scripts that import `package` (installed from tests/js/package.json if
    missing), else the reason it cannot."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        return "node/npm not installed"
    # Test workers may get here together: one installs, the others wait for it (a lock on package.json).
    with (JS / "package.json").open() as manifest:
        fcntl.flock(manifest, fcntl.LOCK_EX)
        if not (JS / "node_modules" / package).is_dir():
            done = subprocess.run(["npm", "install", "--no-audit", "--no-fund"], cwd=JS, capture_output=True,
                                  text=True, timeout=180, check=False)
            if done.returncode != 0:
                return f"npm install failed: {done.stderr[-300:]}"
    return None


def run_node(script: str, *args: str, stdin: object = None) -> subprocess.CompletedProcess[str]:
    """Run tests/js/`script` with `args` (and `stdin` as JSON when given)."""
    return subprocess.run(["node", str(JS / script), *args], capture_output=True, text=True, timeout=60,
                          check=False, input=None if stdin is None else json.dumps(stdin))


def last_json(run: subprocess.CompletedProcess[str]) -> Any:
    """The JSON object a script printed last, once it succeeded."""
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])
