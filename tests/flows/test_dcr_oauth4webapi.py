"""A real JavaScript OAuth client (oauth4webapi, run with node) discovers the realm, registers a client,
gets a client-credentials token with it, reads and deletes the registration. Skipped, with the reason,
when node or the package cannot be installed."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support import LiveServer

JS = Path(__file__).resolve().parents[1] / "js"


def _ready() -> str | None:
    if shutil.which("node") is None or shutil.which("npm") is None:
        return "node/npm not installed"
    if not (JS / "node_modules" / "oauth4webapi").is_dir():
        done = subprocess.run(["npm", "install", "--no-audit", "--no-fund"], cwd=JS, capture_output=True,
                              text=True, timeout=180, check=False)
        if done.returncode != 0:
            return f"npm install failed: {done.stderr[-300:]}"
    return None


# A live server: the client is oauth4webapi in a node process.
def test_oauth4webapi_register_token_read_delete(live_sqlite_server: LiveServer, live_sqlite_demo: dict[str, str]) -> None:
    reason = _ready()
    if reason:
        pytest.skip(reason)
    base = live_sqlite_server.realm_url("alpha")
    run = subprocess.run(["node", str(JS / "dcr_client.mjs"), base], capture_output=True, text=True, timeout=60,
                         check=False)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["scope"] == "data-read" and out["token_scope"] == "data-read"
    assert out["token_type"].lower() == "bearer"
    assert out["read_status"] == 200 and out["read_has_secret"] is False
    assert out["stale_status"] == 401 and out["stale_error"] == "invalid_token"
    assert out["delete_status"] == 204
    assert live_sqlite_server.services.storage.clients.get("alpha", out["client_id"]) is None
    with live_sqlite_server.client() as http:
        gone = http.get(f"{base}/tokeninfo", params={"access_token": out["access_token"]})
        assert gone.status_code == 401 and gone.json()["error"] == "invalid_token"
