"""docs/walkthroughs.md stays true: its shell blocks (all but the first, which starts the server) run
in order, against a live demo server and the command line on the same database, without an error."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.support import MASTER_KEY, LiveServer

DOC = Path(__file__).resolve().parents[2] / "docs" / "walkthroughs.md"


def json_objects(text: str) -> list[dict[str, Any]]:
    """Every JSON object printed in `text` (one line or pretty-printed), in order."""
    decoder, found, start = json.JSONDecoder(), [], text.find("{")
    while start != -1:
        try:
            value, end = decoder.raw_decode(text, start)
        except ValueError:
            start = text.find("{", start + 1)
            continue
        if isinstance(value, dict):
            found.append(value)
        start = text.find("{", end)
    return found


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
    # Section 6: the browser sign-in (curl as the browser), the code redeemed, the agent's exchange.
    issuer = f"{live_sqlite_server.base_url}/am/oauth2/realms/root/realms/bravo"
    assert "\nhttp://127.0.0.1/callback?code=" in out and f"&iss={quote(issuer, safe='')}\n" in out
    assert "\nstate matches\n" in out                                     # the state came back unchanged
    printed = json_objects(out)
    [user] = [o for o in printed if o.get("username") == "sam.carter"]     # credo user create
    [tokens] = [o for o in printed if "id_token" in o]                     # the code redeemed
    assert tokens["scope"] == "openid profile read-data" and tokens["refresh_token"]
    assert {"sub": user["id"], "preferred_username": "sam.carter", "name": "Sam Carter"} in printed  # userinfo
    [on_behalf] = [o for o in printed if o.get("act") == {"sub": "assistant-ai-agent"}]
    assert on_behalf["active"] is True and on_behalf["sub"] == user["id"]
    assert on_behalf["client_id"] == "assistant-ai-agent" and on_behalf["scope"] == "read-data"
    assert on_behalf["aud"] == ["assistant-ai-agent", "assistant-portal"]
