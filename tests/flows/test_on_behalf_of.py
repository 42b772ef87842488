"""The "on behalf of" seed, end to end over real HTTP on SQLite and PostgreSQL: password grant →
introspection → token exchange by the agent → introspection, checking every claim shown; then the cascade."""

from __future__ import annotations

import pytest

from credo.domain.settings import GRANT_CLIENT_CREDENTIALS, GRANT_PASSWORD, GRANT_REFRESH_TOKEN, GRANT_TOKEN_EXCHANGE
from credo.management.agents import delete_agent, set_agent_enabled
from credo.management.applications import delete_application, update_application
from credo.management.clients import create_client
from credo.management.realms import ensure_realm
from credo.management.users import delete_user, update_user
from tests.factories import (
    ACCESS_TOKEN_TYPE,
    USER_ID,
    assert_oauth_error,
    exchange,
    on_behalf_setup,
    password_token,
    realm_settings,
    refresh,
    token,
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
        # No refresh token is issued, so none is named (the guide's `"refresh_token": null` is a realm setting).
        assert set(ex) == {"access_token", "issued_token_type", "scope", "token_type", "expires_in"}
        assert ex["issued_token_type"] == ACCESS_TOKEN_TYPE
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


def test_the_guide_followed_to_the_letter_gets_a_refresh_token_it_can_use(server: Server) -> None:
    """Task 1 selects only the password and token-exchange grants, Task 2.2 adds the password grant to the
    application's grants: no refresh-token grant anywhere. The guide's password answer has a refresh token,
    and so does Credo's (the realm's `issue_refresh_tokens`, on by default, implies the grant that redeems it)."""
    services = server.services
    ensure_realm(services, "gamma")
    realm_settings(services, "gamma", grant_types=[GRANT_PASSWORD, GRANT_TOKEN_EXCHANGE])
    agent, app = on_behalf_setup(services, "gamma", app_grants=(GRANT_CLIENT_CREDENTIALS, GRANT_PASSWORD))
    base = server.realm_url("gamma")
    with server.client() as http:
        r = password_token(http, base, app, "openid")
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) == {"access_token", "refresh_token", "scope", "token_type", "expires_in"}
        r = refresh(http, base, app, body["refresh_token"])
        assert r.status_code == 200, r.text
        renewed = r.json()
        assert renewed["scope"] == "openid" and renewed["refresh_token"] not in (None, body["refresh_token"])
        info = http.post(f"{base}/introspect", data={"token": renewed["access_token"], **app.auth}).json()
        assert info["active"] is True and info["sub"] == USER_ID and info["client_id"] == APP
        assert exchange(http, base, agent, renewed["access_token"], APP, "read-data").status_code == 200
        # The refresh grant is published with the grants that issue its tokens, and only it is implied.
        metadata = http.get(f"{base}/.well-known/openid-configuration").json()
        assert metadata["grant_types_supported"] == [GRANT_PASSWORD, GRANT_TOKEN_EXCHANGE, GRANT_REFRESH_TOKEN]
        assert_oauth_error(token(http, base, grant_type="client_credentials", **app.auth), 400, "unsupported_grant_type")
        # An agent has no grant that issues refresh tokens, so none is implied for it.
        assert_oauth_error(refresh(http, base, agent, renewed["refresh_token"]), 400, "unauthorized_client")


def test_the_guides_literal_null_refresh_token_when_the_realm_asks(sqlite_server: Server,
                                                                   sqlite_demo: dict[str, str]) -> None:
    agent, app = on_behalf_setup(sqlite_server.services)
    realm_settings(sqlite_server.services, "alpha", exchange_null_refresh_token=True)
    base = sqlite_server.realm_url("alpha")
    with sqlite_server.client() as http:
        user_token = password_token(http, base, app).json()["access_token"]
        r = exchange(http, base, agent, user_token, APP, "read-data")
        assert r.status_code == 200, r.text
        assert '"refresh_token":null' in r.text and r.json()["refresh_token"] is None
        assert set(r.json()) == {"access_token", "refresh_token", "issued_token_type", "scope", "token_type",
                                 "expires_in"}


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
