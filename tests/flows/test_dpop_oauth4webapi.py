"""A real JavaScript DPoP client (oauth4webapi, run with node): it registers a client that requires DPoP,
obtains a token bound to its own key (with and without server nonces, which the library retries with on
its own), uses it at tokeninfo with a proof, and sees it refused without the key. Skipped, with the reason,
when node or the package cannot be installed."""

from __future__ import annotations

import pytest

from tests.factories import realm_settings
from tests.node import last_json, node_unavailable, run_node
from tests.support import LiveServer


@pytest.mark.parametrize("nonce", [False, True], ids=["no-nonce", "nonce-required"])
def test_oauth4webapi_dpop(live_sqlite_server: LiveServer, live_sqlite_demo: dict[str, str], nonce: bool) -> None:
    reason = node_unavailable("oauth4webapi")
    if reason:
        pytest.skip(reason)
    realm_settings(live_sqlite_server.services, "alpha", dpop_nonce_required=nonce)
    out = last_json(run_node("dpop_client.mjs", live_sqlite_server.realm_url("alpha")))
    assert out["registered_dpop"] is True
    assert out["without_proof"] == "invalid_dpop_proof"
    assert out["token_type"].lower() == "dpop"
    assert out["nonce_retries"] == (1 if nonce else 0)
    assert out["used_status"] == 200 and out["info_token_type"] == "DPoP" and out["info_jkt"]
    assert out["stolen_status"] == 401 and out["stolen_error"] == "invalid_token"
