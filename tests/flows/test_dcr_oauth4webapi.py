"""A real JavaScript OAuth client (oauth4webapi, run with node) discovers the realm, registers a client,
gets a client-credentials token with it, reads and deletes the registration. Skipped, with the reason,
when node or the package cannot be installed."""

from __future__ import annotations

import pytest

from tests.node import last_json, node_unavailable, run_node
from tests.support import LiveServer


# A live server: the client is oauth4webapi in a node process.
def test_oauth4webapi_register_token_read_delete(live_sqlite_server: LiveServer, live_sqlite_demo: dict[str, str]) -> None:
    reason = node_unavailable("oauth4webapi")
    if reason:
        pytest.skip(reason)
    base = live_sqlite_server.realm_url("alpha")
    out = last_json(run_node("dcr_client.mjs", base))
    assert out["scope"] == "data-read" and out["token_scope"] == "data-read"
    assert out["token_type"].lower() == "bearer"
    assert out["read_status"] == 200 and out["read_has_secret"] is False
    assert out["stale_status"] == 401 and out["stale_error"] == "invalid_token"
    assert out["delete_status"] == 204
    assert live_sqlite_server.services.storage.clients.get("alpha", out["client_id"]) is None
    with live_sqlite_server.client() as http:
        gone = http.get(f"{base}/tokeninfo", params={"access_token": out["access_token"]})
        assert gone.status_code == 401 and gone.json()["error"] == "invalid_token"
