"""openid-client (v6, node), unchanged, exchanges a user's token as the on-behalf-of guide's agent does: the
answer has no `refresh_token` member, which the library accepts. The guides' literal `"refresh_token": null`
(the realm setting `exchange_null_refresh_token`) is what the library refuses, hence the default.
Skipped, with the reason, when node or the package cannot be installed."""

from __future__ import annotations

import json

import pytest

from tests.factories import ACCESS_TOKEN_TYPE, AGENT_SECRET, on_behalf_setup, realm_settings, user_access_token
from tests.node import last_json, node_unavailable, run_node
from tests.support import LiveServer

AGENT, APP = "digital-assistant-ai-agent", "digital-assistant-web-app"


# A live server: openid-client opens its own connections from a node process.
def test_openid_client_exchanges_tokens(live_sqlite_server: LiveServer, live_sqlite_demo: dict[str, str]) -> None:
    reason = node_unavailable("openid-client")
    if reason:
        pytest.skip(reason)
    services, base = live_sqlite_server.services, live_sqlite_server.realm_url("alpha")
    _, app = on_behalf_setup(services)
    args = (base, AGENT, AGENT_SECRET, user_access_token(live_sqlite_server, app), APP, "read-data")

    out = last_json(run_node("token_exchange.mjs", *args))
    assert out["issued_token_type"] == ACCESS_TOKEN_TYPE and out["token_type"] == "bearer"
    assert out["scope"] == "read-data" and out["has_refresh_token"] is False and out["access_token"]

    realm_settings(services, "alpha", exchange_null_refresh_token=True)
    refused = run_node("token_exchange.mjs", *args)
    assert refused.returncode == 1, refused.stdout
    error = json.loads(refused.stderr.strip().splitlines()[-1])
    assert error["code"] == "OAUTH_INVALID_RESPONSE", error
    assert error["cause"] == '"response" body "refresh_token" property must be a string', error
