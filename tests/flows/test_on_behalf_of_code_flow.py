"""The on-behalf-of seed the recommended way (OAuth 2.1 / RFC 9700): the user signs in through the browser
(authorization code + PKCE) instead of giving the web application a password, and the agent exchanges
the user's token exactly as before: same `sub` (the user), `act.sub` (the agent), the policy applied."""

from __future__ import annotations

import pytest

from credo.domain.errors import InvalidRequest
from credo.domain.settings import GRANT_AUTHORIZATION_CODE
from credo.management.agents import put_policy
from credo.management.applications import update_application
from tests.factories import USER_ID, exchange, on_behalf_setup
from tests.signin import REDIRECT, enable_code_flow, introspect, obtain_code, pkce, redeem, submit
from tests.support import Server

AGENT, APP = "digital-assistant-ai-agent", "digital-assistant-web-app"
APP_URL = "https://assistant.example/api"


def _code_flow_app(server: Server) -> None:
    services = server.services
    enable_code_flow(services)
    app = services.client("alpha", APP)
    assert app is not None
    update_application(services, "alpha", APP, {"grant_types": (*app.grant_types, GRANT_AUTHORIZATION_CODE),
                                                "redirect_uris": (REDIRECT,), "resources": (APP_URL,)})


def test_agent_acts_for_a_user_who_signed_in_with_the_browser(server: Server, demo: dict[str, str]) -> None:
    agent, app = on_behalf_setup(server.services)
    _code_flow_app(server)
    base = server.realm_url("alpha")
    with server.client() as http:
        challenge = pkce()
        code = obtain_code(http, base, APP, challenge=challenge, scope="openid read-data")["code"]
        r = redeem(http, base, code, challenge, client_id=APP, client_secret=app.secret)
        assert r.status_code == 200, r.text
        user_token = r.json()["access_token"]
        info = http.post(f"{base}/introspect", data={"token": user_token, **app.auth}).json()
        assert info["active"] is True and info["sub"] == USER_ID and info["client_id"] == APP

        ex = exchange(http, base, agent, user_token, APP, "read-data")
        assert ex.status_code == 200, ex.text
        agent_info = http.post(f"{base}/introspect", data={"token": ex.json()["access_token"], **agent.auth}).json()
        assert agent_info["sub"] == USER_ID and agent_info["act"] == {"sub": AGENT}
        assert agent_info["aud"] == [AGENT, APP] and agent_info["scope"] == "read-data"

        # The same exchange naming the application by its resource identifier (RFC 8707): aud is the URL.
        by_url = exchange(http, base, agent, user_token, None, "read-data", resource=APP_URL)
        assert by_url.status_code == 200, by_url.text
        url_info = introspect(server, http, by_url.json()["access_token"])
        assert url_info["aud"] == [AGENT, APP_URL] and url_info["sub"] == USER_ID
        assert url_info["act"] == {"sub": AGENT}

        # The policy still decides: a scope it does not grant is refused as before.
        refused = exchange(http, base, agent, user_token, APP, "write-data")
        assert refused.status_code == 400 and refused.json()["error"] == "invalid_scope"


def test_a_policy_may_name_the_application_by_its_resource_identifier(server: Server, demo: dict[str, str]) -> None:
    on_behalf_setup(server.services)
    _code_flow_app(server)
    policy = put_policy(server.services, "alpha", AGENT, APP_URL, permissions=("write-data",))
    assert policy.application_id == APP
    assert server.services.storage.policies.get("alpha", AGENT, APP).permissions == ("write-data",)
    with pytest.raises(InvalidRequest, match="resource"):
        put_policy(server.services, "alpha", AGENT, "https://nobody.example/")


def test_revoking_the_application_on_my_account_ends_the_agents_exchanged_token(server: Server,
                                                                                 demo: dict[str, str]) -> None:
    agent, app = on_behalf_setup(server.services)
    _code_flow_app(server)
    base = server.realm_url("alpha")
    with server.client() as http:
        challenge = pkce()
        code = obtain_code(http, base, APP, challenge=challenge, scope="openid read-data")["code"]
        user_token = redeem(http, base, code, challenge, client_id=APP, client_secret=app.secret).json()["access_token"]
        agent_token = exchange(http, base, agent, user_token, APP, "read-data").json()["access_token"]
        assert introspect(server, http, agent_token)["active"] is True
        page = http.get(f"{base}/account")
        assert submit(http, page).status_code == 303  # Revoke (the only application listed)
        assert introspect(server, http, user_token)["active"] is False
        assert introspect(server, http, agent_token)["active"] is False
