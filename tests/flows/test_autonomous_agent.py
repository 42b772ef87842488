"""The autonomous AI agent seed, end to end over real HTTP on SQLite and PostgreSQL:
client credentials → tokeninfo → token exchange → tokeninfo/introspection, checking every claim shown."""

from __future__ import annotations

import pytest

from credo.domain.settings import GRANT_TOKEN_EXCHANGE
from tests.factories import ACCESS_TOKEN_TYPE, autonomous_setup, exchange
from tests.support import Server

AGENT, APP = "bot-traffic-analyzer", "access-log-api"


@pytest.mark.parametrize("stateless, cts", [(True, "OAUTH2_STATELESS_GRANT"), (False, "OAUTH2_STATEFUL_GRANT")])
def test_autonomous_flow(server: Server, demo: dict[str, str], stateless: bool, cts: str) -> None:
    agent, app = autonomous_setup(server.services, stateless=stateless)
    base = server.realm_url("alpha")
    with server.client() as http:
        # Task 4.1: the agent's own token.
        r = http.post(f"{base}/access_token", data={"grant_type": "client_credentials", "scope": "monitor-system",
                                                    **agent.auth})
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) == {"access_token", "scope", "token_type", "expires_in"}
        assert body["scope"] == "monitor-system" and body["token_type"] == "Bearer"
        assert 3590 <= body["expires_in"] <= 3600
        agent_token = body["access_token"]
        assert (agent_token.count(".") == 2) == stateless

        ti = http.get(f"{base}/tokeninfo", params={"access_token": agent_token}).json()
        assert ti["sub"] == ti["subname"] == ti["client_id"] == AGENT
        assert ti["cts"] == cts
        assert ti["iss"] == base
        assert ti["tokenName"] == "access_token" and ti["token_type"] == "Bearer"
        assert ti["authGrantId"] and ti["auditTrackingId"]
        assert ti["access_token"] == agent_token
        assert ti["aud"] == AGENT
        assert ti["nbf"] <= ti["exp"]
        assert ti["grant_type"] == "client_credentials"
        assert ti["scope"] == ["monitor-system"]
        assert "act" not in ti

        # Task 4.2: exchange it for a token scoped to the application.
        r = exchange(http, base, agent, agent_token, APP, "logs-read logs-search")
        assert r.status_code == 200, r.text
        ex = r.json()
        assert set(ex) == {"access_token", "issued_token_type", "scope", "token_type", "expires_in"}  # no refresh token
        assert ex["issued_token_type"] == ACCESS_TOKEN_TYPE
        assert ex["scope"] == "logs-read logs-search" and ex["token_type"] == "Bearer"
        assert 0 < ex["expires_in"] <= body["expires_in"]
        exchanged = ex["access_token"]
        assert (exchanged.count(".") == 2) == stateless

        ti2 = http.get(f"{base}/tokeninfo", params={"access_token": exchanged}).json()
        assert ti2["sub"] == ti2["subname"] == ti2["client_id"] == AGENT
        assert ti2["cts"] == cts
        assert ti2["iss"] == base
        assert ti2["tokenName"] == "access_token" and ti2["token_type"] == "Bearer"
        assert ti2["authGrantId"] and ti2["authGrantId"] != ti["authGrantId"]
        assert ti2["auditTrackingId"] and ti2["access_token"] == exchanged
        assert ti2["aud"] == [AGENT, APP]
        assert ti2["act"] == {"sub": AGENT}
        assert ti2["grant_type"] == GRANT_TOKEN_EXCHANGE
        assert sorted(ti2["scope"]) == ["logs-read", "logs-search"]
        assert ti2["exp"] <= ti["exp"]  # never outlives the subject token
        assert "auth_level" not in ti2

        # The application (in the audience) introspects the exchanged token.
        info = http.post(f"{base}/introspect", data={"token": exchanged, **app.auth}).json()
        assert info["active"] is True
        assert info["scope"] == "logs-read logs-search"
        assert info["client_id"] == info["sub"] == info["user_id"] == info["username"] == info["subname"] == AGENT
        assert info["act"] == {"sub": AGENT} and info["aud"] == [AGENT, APP]
        assert info["realm"] == "/alpha" and info["iss"] == base and info["token_type"] == "Bearer"
        assert "auth_level" not in info
        # ... but not the agent's own token, which does not name it.
        assert http.post(f"{base}/introspect", data={"token": agent_token, **app.auth}).json() == {"active": False}

        # No scope asked: every scope the policy allows.
        r = exchange(http, base, agent, agent_token, APP)
        assert r.status_code == 200 and r.json()["scope"] == "logs-read logs-search"

    events = server.services.storage.audit.query("alpha", action="token_exchange", decision="allow")
    assert len(events) == 2
    e = events[-1] if events[-1].details["scopes_requested"] else events[0]
    assert e.actor == AGENT and e.target == APP and e.reason == "autonomous"
    assert e.details == {"subject": AGENT, "actor_chain": [AGENT], "audience": APP,
                         "scopes_requested": ["logs-read", "logs-search"], "scopes_granted": ["logs-read", "logs-search"]}
