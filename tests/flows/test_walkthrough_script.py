"""scripts/walkthrough.sh runs the DCR onboarding walkthrough with curl against a live server and
fails, saying where, on the first mismatch."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from credo.management.realms import update_settings
from tests.support import LiveServer

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "walkthrough.sh"
pytestmark = pytest.mark.skipif(shutil.which("curl") is None or shutil.which("bash") is None,
                                reason="scripts/walkthrough.sh needs bash and curl")


def _run(realm_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SCRIPT), realm_url], capture_output=True, text=True, timeout=120, check=False)


# Live servers: the walkthrough is a shell script that talks to the server with curl.
def test_walkthrough_passes(live_sql_server: LiveServer, live_sql_demo: dict[str, str]) -> None:
    for realm in ("alpha", "bravo"):
        done = _run(live_sql_server.realm_url(realm))
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.strip().endswith(f"passed against {live_sql_server.realm_url(realm)}")
    assert not [c for c in live_sql_server.services.storage.clients.all("alpha") if c.dynamic]  # it cleaned up


def test_walkthrough_fails_on_a_mismatch(live_sqlite_server: LiveServer, live_sqlite_demo: dict[str, str]) -> None:
    update_settings(live_sqlite_server.services, "alpha", {"allow_open_registration": False})
    done = _run(live_sqlite_server.realm_url())
    assert done.returncode == 1
    assert "FAIL: register: HTTP 401, expected 201" in done.stderr and "invalid_token" in done.stderr

    update_settings(live_sqlite_server.services, "alpha", {"allow_open_registration": True,
                                                      "registration_scope_allowlist": ["data-read"]})
    done = _run(live_sqlite_server.realm_url())
    assert done.returncode == 1
    assert "FAIL: discovery: expected {'data-read', 'data-write'} <= set(d['scopes_supported'])" in done.stderr
