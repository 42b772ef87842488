"""docs/walkthroughs.md stays true: its shell blocks (all but the first, which starts the server) run
in order, against a live demo server and the command line on the same database, without an error."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import MASTER_KEY, LiveServer

DOC = Path(__file__).resolve().parents[2] / "docs" / "walkthroughs.md"


# A live server: the documented blocks run in bash, with curl and the command line.
@pytest.mark.skipif(shutil.which("curl") is None, reason="the walkthroughs use curl")
def test_walkthrough_blocks_run(live_sqlite_server: LiveServer, live_sqlite_demo: dict[str, str], tmp_path: Path) -> None:
    from credo.management.agent_demo import ensure_agent_demo

    ensure_agent_demo(live_sqlite_server.services)
    blocks = re.findall(r"```bash\n(.*?)```", DOC.read_text(), re.S)
    assert blocks[0].strip() == "bash scripts/run"
    script = "set -eu -o pipefail\n" + "\n".join(f"echo '== block {i}'\n{b}" for i, b in enumerate(blocks[1:], 1))
    env = {**os.environ, "CREDO_DATA_DIR": str(tmp_path), "CREDO_MASTER_KEY": MASTER_KEY,
           "HOST": live_sqlite_server.base_url, "CREDO": f"{shlex.quote(sys.executable)} -m credo.cli.main"}
    done = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert out.count("== block") == len(blocks) - 1
    assert '"cts": "OAUTH2_STATELESS_GRANT"' in out                         # the DCR script's stateless agent
    assert '"providerOverridesEnabled": true' in out
    assert "\n401\n" in out and "\n204\n" in out                            # rotated token refused; deleted
    assert out.count("A valid initial access token is required") == 2       # anonymous and reused IAT
    assert '"act": {\n        "sub": "bot-traffic-analyzer"' in out         # autonomous exchange
    assert '"scope":"read-data","realm":"/bravo","client_id":"digital-assistant-ai-agent"' in out  # on behalf of
