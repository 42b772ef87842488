"""A public client (`token_endpoint_auth_method: none`) cannot use a grant that acts on the client's own
authority (client credentials, token exchange): refused at registration, at RFC 7592 update, through
the administration use cases (console, API, CLI and import share them), and at the token endpoint for a
client stored before the rule."""

from __future__ import annotations

from dataclasses import replace

import pytest

from credo.domain.errors import InvalidClientMetadata
from credo.domain.settings import GRANT_TOKEN_EXCHANGE
from credo.management.agents import create_agent
from credo.management.clients import update_client
from tests.factories import SEED_BODY, on_behalf_setup, password_token
from tests.support import Server

PUBLIC_AGENT = {**SEED_BODY, "grant_types": [GRANT_TOKEN_EXCHANGE], "token_endpoint_auth_method": "none"}


def test_registration_refuses_a_public_agent_that_exchanges(sqlite_server: Server,
                                                            sqlite_demo: dict[str, str]) -> None:
    base = sqlite_server.realm_url("alpha")
    with sqlite_server.client() as http:
        for path in ("/register", "/aiagent/register"):
            r = http.post(f"{base}{path}", json=PUBLIC_AGENT)
            assert (r.status_code, r.json()["error"]) == (400, "invalid_client_metadata"), r.text
            assert "token-exchange" in r.json()["error_description"]
        reg = http.post(f"{base}/aiagent/register", json={**SEED_BODY, "grant_types": [GRANT_TOKEN_EXCHANGE]}).json()
        r = http.put(f"{base}/register/{reg['client_id']}", headers={
            "Authorization": f"Bearer {reg['registration_access_token']}"},
            json={**PUBLIC_AGENT, "client_id": reg["client_id"]})
        assert (r.status_code, r.json()["error"]) == (400, "invalid_client_metadata"), r.text


def test_administration_refuses_a_public_agent_that_exchanges(sqlite_server: Server,
                                                              sqlite_demo: dict[str, str]) -> None:
    services = sqlite_server.services
    with pytest.raises(InvalidClientMetadata):
        create_agent(services, "alpha", "public-agent", name="P", auth_method="none",
                     grant_types=(GRANT_TOKEN_EXCHANGE,))
    create_agent(services, "alpha", "agent-x", name="X", grant_types=(GRANT_TOKEN_EXCHANGE,))
    with pytest.raises(InvalidClientMetadata):
        update_client(services, "alpha", "agent-x", {"auth_method": "none", "secret_hash": None})


def test_a_stored_public_agent_cannot_exchange(sqlite_server: Server, sqlite_demo: dict[str, str]) -> None:
    services = sqlite_server.services
    agent, app = on_behalf_setup(services)
    stored = services.storage.clients.get("alpha", agent.client_id)
    assert stored is not None
    services.storage.clients.update(replace(stored, auth_method="none", secret_hash=None))  # as an old database
    base = sqlite_server.realm_url("alpha")
    with sqlite_server.client() as http:
        user_token = password_token(http, base, app).json()["access_token"]
        r = http.post(f"{base}/access_token", data={
            "grant_type": GRANT_TOKEN_EXCHANGE, "client_id": agent.client_id, "subject_token": user_token,
            "subject_token_type": "urn:ietf:params:oauth:token-type:access_token", "audience": app.client_id})
    assert (r.status_code, r.json()["error"]) == (400, "unauthorized_client"), r.text
