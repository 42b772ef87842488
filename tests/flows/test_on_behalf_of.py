"""The "on behalf of" seed, end to end over real HTTP on SQLite and PostgreSQL: password grant →
introspection → token exchange by the agent → introspection, checking every claim shown; then the cascade."""

from __future__ import annotations

import pytest

from credo.domain.settings import GRANT_TOKEN_EXCHANGE
from credo.management.agents import delete_agent, set_agent_enabled
from credo.management.applications import delete_application, update_application
from credo.management.clients import create_client
from credo.management.users import delete_user, update_user
from tests.factories import (
    ACCESS_TOKEN_TYPE,
    USER_ID,
    exchange,
    on_behalf_setup,
    password_token,
)
from tests.support import Server

AGENT, APP = "digital-assistant-ai-agent", "digital-assistant-web-app"


def test_on_behalf_of_flow(server: Server, demo: dict[str, str]) -> None:
    agent, app = on_behalf_setup(server.services)
    base = server.realm_url("alpha")
    with server.client() as http:
        # Task 4.1: the end user's token, through the password grant.
        r = password_token(http, base, app, "openid")
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) == {"access_token", "refresh_token", "scope", "token_type", "expires_in"}
        assert body["scope"] == "openid" and body["token_type"] == "Bearer"
        assert isinstance(body["refresh_token"], str) and len(body["refresh_token"]) >= 43
        assert 3590 <= body["expires_in"] <= 3600
        user_token = body["access_token"]

        info = http.post(f"{base}/introspect", data={"token": user_token, **app.auth}).json()
        assert info["active"] is True
        assert info["scope"] == "openid"
        assert info["realm"] == "/alpha"
        assert info["client_id"] == APP
        assert info["user_id"] == info["username"] == info["sub"] == info["subname"] == USER_ID
        assert info["token_type"] == "Bearer"
        assert info["iss"] == base
        assert info["auth_level"] == 0
        assert info["authGrantId"] and info["auditTrackingId"]
        assert 0 < info["expires_in"] <= 3600 and info["exp"] > info["iat"]
        assert "act" not in info

        # Task 4.2: the agent exchanges the user's token for the application.
        r = exchange(http, base, agent, user_token, APP, "read-data")
        assert r.status_code == 200, r.text
        ex = r.json()
        assert set(ex) == {"access_token", "refresh_token", "issued_token_type", "scope", "token_type", "expires_in"}
        assert ex["refresh_token"] is None and ex["issued_token_type"] == ACCESS_TOKEN_TYPE
        assert ex["scope"] == "read-data" and ex["token_type"] == "Bearer"
        assert 0 < ex["expires_in"] <= 3600
        agent_token = ex["access_token"]
        assert agent_token.count(".") == 2  # the agent's override: client-side tokens

        info2 = http.post(f"{base}/introspect", data={"token": agent_token, **agent.auth}).json()
        assert info2["active"] is True
        assert info2["scope"] == "read-data"
        assert info2["realm"] == "/alpha"
        assert info2["client_id"] == AGENT
        assert info2["user_id"] == info2["username"] == info2["sub"] == info2["subname"] == USER_ID
        assert info2["token_type"] == "Bearer"
        assert info2["iss"] == base
        assert info2["auth_level"] == 0
        assert info2["act"] == {"sub": AGENT}
        assert info2["aud"] == [AGENT, APP]
        assert info2["authGrantId"] and info2["auditTrackingId"] and info2["authGrantId"] != info["authGrantId"]
        assert info2["exp"] <= info["exp"]  # never outlives the user's token

        ti = http.get(f"{base}/tokeninfo", params={"access_token": agent_token}).json()
        assert ti["cts"] == "OAUTH2_STATELESS_GRANT"
        assert ti["sub"] == USER_ID and ti["client_id"] == AGENT and ti["act"] == {"sub": AGENT}
        assert ti["grant_type"] == GRANT_TOKEN_EXCHANGE and ti["scope"] == ["read-data"] and ti["auth_level"] == 0

    [event] = server.services.storage.audit.query("alpha", action="token_exchange")
    assert event.decision == "allow" and event.actor == AGENT and event.target == APP
    assert event.reason == "on_behalf_of"
    assert event.details == {"subject": USER_ID, "actor_chain": [AGENT], "audience": APP,
                             "scopes_requested": ["read-data"], "scopes_granted": ["read-data"]}


def _disable_agent(s: object) -> None:
    set_agent_enabled(s, "alpha", AGENT, False)  # type: ignore[arg-type]


CASCADES = {
    "agent disabled": _disable_agent,
    "agent deleted": lambda s: delete_agent(s, "alpha", AGENT),
    "user inactive": lambda s: update_user(s, "alpha", USER_ID, active=False),
    "user deleted": lambda s: delete_user(s, "alpha", USER_ID),
    "application disabled": lambda s: update_application(s, "alpha", APP, {"enabled": False}),
    "application deleted": lambda s: delete_application(s, "alpha", APP),
}


@pytest.mark.parametrize("stateless", [True, False], ids=["jwt", "opaque"])
@pytest.mark.parametrize("cascade", list(CASCADES))
def test_cascade_makes_exchanged_token_inactive(sqlite_server: Server, sqlite_demo: dict[str, str],
                                                cascade: str, stateless: bool) -> None:
    services = sqlite_server.services
    agent, app = on_behalf_setup(services, stateless=stateless)
    create_client(services, "alpha", "resource-server", secret="resource-server-secret-1",
                  scopes=("am-introspect-all-tokens",))
    rs = {"client_id": "resource-server", "client_secret": "resource-server-secret-1"}
    base = sqlite_server.realm_url("alpha")
    with sqlite_server.client() as http:
        user_token = password_token(http, base, app).json()["access_token"]
        exchanged = exchange(http, base, agent, user_token, APP, "read-data").json()["access_token"]
        assert http.post(f"{base}/introspect", data={"token": exchanged, **rs}).json()["active"] is True
        CASCADES[cascade](services)
        assert http.post(f"{base}/introspect", data={"token": exchanged, **rs}).json() == {"active": False}
        gone = http.get(f"{base}/tokeninfo", params={"access_token": exchanged})
        assert gone.status_code == 401 and gone.json()["error"] == "invalid_token"
