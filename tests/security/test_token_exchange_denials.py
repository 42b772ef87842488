"""Token exchange refusals over real HTTP: every bad request gets the exact status and RFC error code
of the one error table in docs/agents.md, and every decision is audited."""

from __future__ import annotations

import asyncio

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from credo.domain.clock import FrozenClock
from credo.domain.settings import GRANT_CLIENT_CREDENTIALS, GRANT_TOKEN_EXCHANGE
from credo.management.agents import create_agent, delete_agent, put_policy, set_agent_enabled, update_agent
from credo.management.applications import create_application, delete_application, update_application
from credo.management.groups import put_group
from credo.management.realms import update_settings
from credo.management.users import create_user, delete_user, update_user
from credo.oauth.tokens import issue_access_token
from credo.storage.unit_of_work import UnitOfWork
from tests.factories import (
    AGENT_SECRET,
    AUTO_AGENT,
    AUTO_APP,
    OBO_AGENT,
    OBO_APP,
    USER_ID,
    Party,
    assert_oauth_error,
    autonomous_setup,
    cc_token,
    exchange,
    on_behalf_setup,
    password_token,
    user_access_token,
)
from tests.support import Server

JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt"


# --- who: the subject --------------------------------------------------------------------------


def test_user_outside_subjects_and_groups_is_denied(server: Server, demo: dict[str, str]) -> None:
    s = server.services
    create_user(s, "alpha", "someone-else", "password-someone")
    put_group(s, "alpha", "helpers", ["someone-else"])
    agent, app = on_behalf_setup(s, subjects=("someone-else",), groups=("helpers",))
    base = server.realm_url("alpha")
    with server.client() as http:
        r = exchange(http, base, agent, user_access_token(server, app), OBO_APP, "read-data")
        assert_oauth_error(r, 403, "access_denied")
    [event] = s.storage.audit.query("alpha", action="token_exchange")
    assert event.decision == "deny" and event.actor == OBO_AGENT and event.target == OBO_APP
    assert event.reason.startswith("access_denied")
    assert event.details["subject"] == USER_ID and event.details["scopes_granted"] == []


def test_user_in_a_subject_group_is_allowed(sqlite_server: Server, sqlite_demo: dict[str, str]) -> None:
    s = sqlite_server.services
    create_user(s, "alpha", "barbara.jensen", "barbara-password-1", user_id=USER_ID)
    put_group(s, "alpha", "assistants", ["barbara.jensen"])
    agent, app = on_behalf_setup(s, subjects=(), groups=("assistants",))
    with sqlite_server.client() as http:
        r = exchange(http, sqlite_server.realm_url("alpha"), agent, user_access_token(sqlite_server, app), OBO_APP)
        assert r.status_code == 200, r.text
        assert r.json()["scope"] == "read-data"


def test_policy_without_subjects_allows_no_user(sqlite_server: Server, sqlite_demo: dict[str, str]) -> None:
    agent, app = on_behalf_setup(sqlite_server.services, subjects=())
    with sqlite_server.client() as http:
        r = exchange(http, sqlite_server.realm_url("alpha"), agent, user_access_token(sqlite_server, app), OBO_APP)
        assert_oauth_error(r, 403, "access_denied")


@pytest.mark.parametrize("change", ["inactive", "deleted"])
def test_disabled_or_deleted_user(sqlite_server: Server, sqlite_demo: dict[str, str], change: str) -> None:
    s = sqlite_server.services
    agent, app = on_behalf_setup(s)
    user_token = user_access_token(sqlite_server, app)
    if change == "inactive":
        update_user(s, "alpha", USER_ID, active=False)
    else:
        delete_user(s, "alpha", USER_ID)
    with sqlite_server.client() as http:
        assert_oauth_error(exchange(http, sqlite_server.realm_url("alpha"), agent, user_token, OBO_APP), 400, "invalid_grant")


def test_confused_deputy_other_agents_token(sqlite_server: Server, sqlite_demo: dict[str, str]) -> None:
    """Agent A may not present agent B's own token as the subject of an autonomous exchange."""
    s = sqlite_server.services
    agent_a, _ = autonomous_setup(s)
    create_agent(s, "alpha", "agent-b", name="B", secret=AGENT_SECRET, scopes=("monitor-system",),
                 overrides_enabled=True, accept_audience=True)
    put_policy(s, "alpha", "agent-b", AUTO_APP)
    base = sqlite_server.realm_url("alpha")
    with sqlite_server.client() as http:
        b_token = cc_token(http, base, Party("agent-b", AGENT_SECRET))
        assert_oauth_error(exchange(http, base, agent_a, b_token, AUTO_APP), 400, "invalid_grant")
        # B exchanging A's token is refused the same way; each may exchange its own.
        a_token = cc_token(http, base, agent_a)
        assert_oauth_error(exchange(http, base, Party("agent-b", AGENT_SECRET), a_token, AUTO_APP), 400, "invalid_grant")
        assert exchange(http, base, agent_a, a_token, AUTO_APP).status_code == 200


# --- what: scopes and the target ---------------------------------------------------------------


def test_scope_outside_permissions(server: Server, demo: dict[str, str]) -> None:
    agent, app = on_behalf_setup(server.services)
    base = server.realm_url("alpha")
    with server.client() as http:
        user_token = user_access_token(server, app)
        assert_oauth_error(exchange(http, base, agent, user_token, OBO_APP, "read-data write-data"), 400, "invalid_scope")
        assert_oauth_error(exchange(http, base, agent, user_token, OBO_APP, "admin-action"), 400, "invalid_scope")
    events = server.services.storage.audit.query("alpha", action="token_exchange", decision="deny")
    assert len(events) == 2 and all(e.reason.startswith("invalid_scope") for e in events)


def test_empty_permissions_allow_the_applications_scopes_only(sqlite_server: Server,
                                                              sqlite_demo: dict[str, str]) -> None:
    agent, _ = autonomous_setup(sqlite_server.services, permissions=())
    base = sqlite_server.realm_url("alpha")
    with sqlite_server.client() as http:
        own = cc_token(http, base, agent)
        r = exchange(http, base, agent, own, AUTO_APP)
        assert r.status_code == 200 and r.json()["scope"] == "logs-read logs-search"
        assert_oauth_error(exchange(http, base, agent, own, AUTO_APP, "monitor-system"), 400, "invalid_scope")


def test_audience_without_policy_or_not_an_application(sqlite_server: Server, sqlite_demo: dict[str, str]) -> None:
    s = sqlite_server.services
    agent, _ = autonomous_setup(s)
    create_application(s, "alpha", "other-app", name="Other", scopes=("logs-read",))
    base = sqlite_server.realm_url("alpha")
    with sqlite_server.client() as http:
        own = cc_token(http, base, agent)
        for audience in ("other-app", "demo-client", AUTO_AGENT, "no-such-app"):
            assert_oauth_error(exchange(http, base, agent, own, audience), 400, "invalid_target")
        assert_oauth_error(exchange(http, base, agent, own, None), 400, "invalid_target")
        assert_oauth_error(exchange(http, base, agent, own, f"{AUTO_APP} other-app"), 400, "invalid_target")
        assert_oauth_error(exchange(http, base, agent, own, AUTO_APP, resource="other-app"), 400, "invalid_target")
        ok = exchange(http, base, agent, own, None, resource=AUTO_APP)
        assert ok.status_code == 200, ok.text


def test_audience_parameters_not_accepted(sqlite_server: Server, sqlite_demo: dict[str, str]) -> None:
    s = sqlite_server.services
    agent, _ = autonomous_setup(s)
    update_agent(s, "alpha", AUTO_AGENT, {"accept_audience": False})
    base = sqlite_server.realm_url("alpha")
    with sqlite_server.client() as http:
        own = cc_token(http, base, agent)
        refused = exchange(http, base, agent, own, AUTO_APP)
        assert_oauth_error(refused, 400, "invalid_target")
        assert_oauth_error(exchange(http, base, agent, own, None, resource=AUTO_APP), 400, "invalid_target")
        # The answer names the setting that is off.
        assert refused.json()["error_description"] == (
            "This agent does not accept audience parameters in token exchange requests: Accept audience parameters "
            "in token exchange requests (acceptAudienceParametersInTokenExchangeRequests) is off.")
        update_agent(s, "alpha", AUTO_AGENT, {"accept_audience": True})
        update_agent(s, "alpha", AUTO_AGENT, {"overrides_enabled": False})  # the flag stays, switched off
        assert exchange(http, base, agent, own, AUTO_APP).json()["error_description"] == (
            "This agent does not accept audience parameters in token exchange requests: Accept audience parameters "
            "in token exchange requests (acceptAudienceParametersInTokenExchangeRequests) is on, but Enable OAuth2 "
            "Provider Overrides (providerOverridesEnabled) is off.")
        update_agent(s, "alpha", AUTO_AGENT, {"accept_audience": False})
        assert exchange(http, base, agent, own, AUTO_APP).json()["error_description"] == (
            "This agent does not accept audience parameters in token exchange requests: it needs Enable OAuth2 "
            "Provider Overrides (providerOverridesEnabled) and Accept audience parameters in token exchange "
            "requests (acceptAudienceParametersInTokenExchangeRequests).")


@pytest.mark.parametrize("change", ["disabled", "deleted"])
def test_disabled_or_deleted_application(sqlite_server: Server, sqlite_demo: dict[str, str], change: str) -> None:
    s = sqlite_server.services
    agent, _ = autonomous_setup(s)
    base = sqlite_server.realm_url("alpha")
    with sqlite_server.client() as http:
        own = cc_token(http, base, agent)
        if change == "disabled":
            update_application(s, "alpha", AUTO_APP, {"enabled": False})
        else:
            delete_application(s, "alpha", AUTO_APP)
        assert_oauth_error(exchange(http, base, agent, own, AUTO_APP), 400, "invalid_target")


# --- the caller --------------------------------------------------------------------------------


def test_agent_without_the_token_exchange_grant(sqlite_server: Server, sqlite_demo: dict[str, str]) -> None:
    s = sqlite_server.services
    agent, _ = autonomous_setup(s)
    update_agent(s, "alpha", AUTO_AGENT, {"grant_types": [GRANT_CLIENT_CREDENTIALS]})
    base = sqlite_server.realm_url("alpha")
    with sqlite_server.client() as http:
        assert_oauth_error(exchange(http, base, agent, cc_token(http, base, agent), AUTO_APP), 400, "unauthorized_client")
    [event] = s.storage.audit.query("alpha", action="token_exchange")
    assert (event.decision, event.actor, event.target) == ("deny", AUTO_AGENT, AUTO_APP)
    assert event.reason.startswith("unauthorized_client")


def test_realm_without_the_token_exchange_grant(sqlite_server: Server, sqlite_demo: dict[str, str]) -> None:
    s = sqlite_server.services
    agent, _ = autonomous_setup(s)
    base = sqlite_server.realm_url("alpha")
    with sqlite_server.client() as http:
        own = cc_token(http, base, agent)
        update_settings(s, "alpha", {"grant_types": [GRANT_CLIENT_CREDENTIALS]})
        assert_oauth_error(exchange(http, base, agent, own, AUTO_APP), 400, "unsupported_grant_type")
        assert_oauth_error(http.post(f"{base}/access_token", data={"grant_type": GRANT_TOKEN_EXCHANGE, "client_id": AUTO_AGENT,
                                                             "client_secret": "wrong"}), 401, "invalid_client")
    # The authenticated refusal is audited; the failed authentication is not.
    [event] = s.storage.audit.query("alpha", action="token_exchange")
    assert (event.decision, event.actor) == ("deny", AUTO_AGENT) and event.reason.startswith("unsupported_grant_type")


def test_disabled_agent(sqlite_server: Server, sqlite_demo: dict[str, str]) -> None:
    s = sqlite_server.services
    agent, _ = autonomous_setup(s)
    base = sqlite_server.realm_url("alpha")
    with sqlite_server.client() as http:
        own = cc_token(http, base, agent)
        set_agent_enabled(s, "alpha", AUTO_AGENT, False)
        assert_oauth_error(exchange(http, base, agent, own, AUTO_APP), 401, "invalid_client")


def test_non_agent_client_cannot_exchange(sqlite_server: Server, sqlite_demo: dict[str, str]) -> None:
    s = sqlite_server.services
    autonomous_setup(s)
    create_application(s, "alpha", "sneaky-app", name="Sneaky", secret="sneaky-app-secret-123",
                       grant_types=(GRANT_CLIENT_CREDENTIALS, GRANT_TOKEN_EXCHANGE), scopes=("logs-read",))
    sneaky = Party("sneaky-app", "sneaky-app-secret-123")
    base = sqlite_server.realm_url("alpha")
    with sqlite_server.client() as http:
        own = cc_token(http, base, sneaky, "logs-read")
        assert_oauth_error(exchange(http, base, sneaky, own, AUTO_APP), 400, "unauthorized_client")
    [event] = s.storage.audit.query("alpha", action="token_exchange")
    assert event.decision == "deny" and event.actor == "sneaky-app"


# --- the subject token itself ------------------------------------------------------------------


def test_malformed_requests(sqlite_server: Server, sqlite_demo: dict[str, str]) -> None:
    agent, _ = autonomous_setup(sqlite_server.services)
    base = sqlite_server.realm_url("alpha")
    with sqlite_server.client() as http:
        own = cc_token(http, base, agent)
        plain = {"grant_type": GRANT_TOKEN_EXCHANGE, "audience": AUTO_APP, **agent.auth}
        cases = [
            {"subject_token_type": "urn:ietf:params:oauth:token-type:access_token"},
            {"subject_token": own},
            {"subject_token": own, "subject_token_type": "urn:ietf:params:oauth:token-type:saml2"},
            {"subject_token": own, "subject_token_type": "access_token"},
            {"subject_token": "", "subject_token_type": "urn:ietf:params:oauth:token-type:access_token"},
        ]
        for extra in cases:
            assert_oauth_error(http.post(f"{base}/access_token", data={**plain, **extra}), 400, "invalid_request")
        assert_oauth_error(exchange(http, base, agent, own, AUTO_APP, requested_token_type=
                              "urn:ietf:params:oauth:token-type:refresh_token"), 400, "invalid_request")
        assert_oauth_error(exchange(http, base, agent, own, AUTO_APP,
                              actor_token_type="urn:ietf:params:oauth:token-type:access_token"), 400, "invalid_request")
        assert_oauth_error(exchange(http, base, agent, own, AUTO_APP, actor_token=own), 400, "invalid_request")
        assert_oauth_error(exchange(http, base, agent, own, AUTO_APP, scope="bad\\scope"), 400, "invalid_scope")


def test_actor_token(sqlite_server: Server, sqlite_demo: dict[str, str]) -> None:
    s = sqlite_server.services
    agent, _ = autonomous_setup(s)
    create_agent(s, "alpha", "agent-b", name="B", secret=AGENT_SECRET, scopes=("monitor-system",))
    base = sqlite_server.realm_url("alpha")
    at = "urn:ietf:params:oauth:token-type:access_token"
    with sqlite_server.client() as http:
        own = cc_token(http, base, agent)
        other = cc_token(http, base, Party("agent-b", AGENT_SECRET))
        ok = exchange(http, base, agent, own, AUTO_APP, actor_token=own, actor_token_type=at)
        assert ok.status_code == 200, ok.text
        assert_oauth_error(exchange(http, base, agent, own, AUTO_APP, actor_token=other, actor_token_type=at),
                     400, "invalid_grant")
        assert_oauth_error(exchange(http, base, agent, own, AUTO_APP, actor_token="garbage", actor_token_type=at),
                     400, "invalid_grant")


def test_revoked_subject_token(server: Server, demo: dict[str, str]) -> None:
    agent, app = on_behalf_setup(server.services)
    base = server.realm_url("alpha")
    with server.client() as http:
        user_token = user_access_token(server, app)
        assert http.post(f"{base}/token/revoke", data={"token": user_token, **app.auth}).status_code == 200
        assert_oauth_error(exchange(http, base, agent, user_token, OBO_APP), 400, "invalid_grant")


def test_forged_subject_tokens(sqlite_server: Server, sqlite_demo: dict[str, str]) -> None:
    agent, _ = autonomous_setup(sqlite_server.services)  # stateless: the agent's own token is a JWT
    base = sqlite_server.realm_url("alpha")
    with sqlite_server.client() as http:
        own = cc_token(http, base, agent)
        header = jwt.get_unverified_header(own)
        claims = jwt.decode(own, options={"verify_signature": False})
        other_key = ec.generate_private_key(ec.SECP256R1())
        resigned = jwt.encode(claims, other_key, algorithm="ES256", headers={"kid": header["kid"], "typ": "at+jwt"})
        unsigned = jwt.encode(claims, None, algorithm="none", headers={"kid": header["kid"], "typ": "at+jwt"})
        widened = jwt.encode({**claims, "scope": "admin"}, other_key, algorithm="ES256",
                             headers={"kid": header["kid"], "typ": "at+jwt"})
        head, body, _sig = own.split(".")
        for bad in (resigned, unsigned, widened, f"{head}.{body}.", own[:-4] + "AAAA", "not-a-token", "a.b.c"):
            assert_oauth_error(exchange(http, base, agent, bad, AUTO_APP), 400, "invalid_grant")
        assert exchange(http, base, agent, own, AUTO_APP).status_code == 200


def test_jwt_type_for_an_opaque_token(sqlite_server: Server, sqlite_demo: dict[str, str]) -> None:
    agent, app = on_behalf_setup(sqlite_server.services)
    base = sqlite_server.realm_url("alpha")
    with sqlite_server.client() as http:
        user_token = user_access_token(sqlite_server, app)  # the application issues opaque tokens
        r = exchange(http, base, agent, user_token, OBO_APP, subject_token_type=JWT_TYPE)
        assert_oauth_error(r, 400, "invalid_grant")


def test_other_realm_subject_tokens(server: Server, demo: dict[str, str]) -> None:
    s = server.services
    agent, _app = on_behalf_setup(s)
    bravo_agent, bravo_app = on_behalf_setup(s, "bravo")
    auto_agent, _ = autonomous_setup(s)
    autonomous_setup(s, "bravo")
    alpha, bravo = server.realm_url("alpha"), server.realm_url("bravo")
    with server.client() as http:
        bravo_user_token = password_token(http, bravo, bravo_app).json()["access_token"]  # opaque
        bravo_agent_token = cc_token(http, bravo, auto_agent)  # JWT signed with bravo's key
        assert_oauth_error(exchange(http, alpha, agent, bravo_user_token, OBO_APP), 400, "invalid_grant")
        assert_oauth_error(exchange(http, alpha, auto_agent, bravo_agent_token, AUTO_APP), 400, "invalid_grant")
        assert exchange(http, bravo, bravo_agent, bravo_user_token, OBO_APP).status_code == 200


def test_delegation_depth_limit(sqlite_server: Server, sqlite_demo: dict[str, str]) -> None:
    s = sqlite_server.services
    update_settings(s, "alpha", {"max_delegation_depth": 2})
    agent, _ = autonomous_setup(s)
    base = sqlite_server.realm_url("alpha")
    with sqlite_server.client() as http:
        first = exchange(http, base, agent, cc_token(http, base, agent), AUTO_APP).json()["access_token"]
        r = exchange(http, base, agent, first, AUTO_APP)
        assert r.status_code == 200, r.text
        second = r.json()["access_token"]
        ti = http.get(f"{base}/tokeninfo", params={"access_token": second}).json()
        assert ti["act"] == {"sub": AUTO_AGENT, "act": {"sub": AUTO_AGENT}}
        assert_oauth_error(exchange(http, base, agent, second, AUTO_APP), 400, "invalid_grant")
    deny = s.storage.audit.query("alpha", action="token_exchange", decision="deny")
    assert len(deny) == 1 and deny[0].reason.startswith("invalid_grant: delegation depth 3")


def test_nested_chain_through_two_agents(sqlite_server: Server, sqlite_demo: dict[str, str]) -> None:
    s = sqlite_server.services
    agent, app = on_behalf_setup(s)
    create_agent(s, "alpha", "second-agent", name="Second", secret=AGENT_SECRET, grant_types=(GRANT_TOKEN_EXCHANGE,),
                 overrides_enabled=True, accept_audience=True)
    put_policy(s, "alpha", "second-agent", OBO_APP, subjects=(USER_ID,), permissions=("read-data",))
    second = Party("second-agent", AGENT_SECRET)
    base = sqlite_server.realm_url("alpha")
    with sqlite_server.client() as http:
        first = exchange(http, base, agent, user_access_token(sqlite_server, app), OBO_APP).json()["access_token"]
        r = exchange(http, base, second, first, OBO_APP)
        assert r.status_code == 200, r.text
        info = http.post(f"{base}/introspect", data={"token": r.json()["access_token"], **second.auth}).json()
        assert info["sub"] == USER_ID and info["act"] == {"sub": "second-agent", "act": {"sub": OBO_AGENT}}
        # The chain stays live only while every agent in it is enabled.
        set_agent_enabled(s, "alpha", OBO_AGENT, False)
        assert http.post(f"{base}/introspect", data={"token": r.json()["access_token"], **second.auth}).json() \
            == {"active": False}


def test_may_act(sqlite_server: Server, sqlite_demo: dict[str, str]) -> None:
    s = sqlite_server.services
    agent, _ = on_behalf_setup(s)
    realm = s.realm("alpha")
    app_client = s.client("alpha", OBO_APP)
    assert app_client is not None
    base = sqlite_server.realm_url("alpha")

    def subject(may_act: object) -> str:
        issued = UnitOfWork()
        value = asyncio.run(issue_access_token(s, realm, app_client, sub=USER_ID, scopes=("openid",),
                                               grant_type="password", user=True, extra={"may_act": may_act},
                                               work=issued)).token.value
        s.commit_now(issued)
        return value

    with sqlite_server.client() as http:
        for bad in ({"sub": "someone-else"}, {"client_id": "someone-else"}, {"sub": OBO_AGENT, "client_id": "x"},
                    {"iss": "x"}, "digital-assistant-ai-agent"):
            assert_oauth_error(exchange(http, base, agent, subject(bad), OBO_APP), 400, "invalid_grant")
        for good in ({"sub": OBO_AGENT}, {"client_id": OBO_AGENT}):
            assert exchange(http, base, agent, subject(good), OBO_APP).status_code == 200


# --- time --------------------------------------------------------------------------------------


@pytest.mark.parametrize("stateless", [True, False], ids=["jwt", "opaque"])
def test_expired_subject_token(frozen: tuple[Server, FrozenClock], stateless: bool) -> None:
    srv, clock = frozen
    agent, _ = autonomous_setup(srv.services, stateless=stateless)
    base = srv.realm_url("alpha")
    with srv.client() as http:
        own = cc_token(http, base, agent)
        clock.advance(3599)
        r = exchange(http, base, agent, own, AUTO_APP)
        assert r.status_code == 200 and r.json()["expires_in"] == 1  # capped by the subject token
        clock.advance(1)
        assert_oauth_error(exchange(http, base, agent, own, AUTO_APP), 400, "invalid_grant")


def test_recreated_clients_do_not_revive_old_tokens(frozen: tuple[Server, FrozenClock]) -> None:
    """A token naming a deleted agent (in `act`) stays dead when a new client takes the same id."""
    sqlite_server, clock = frozen
    s = sqlite_server.services
    agent, app = on_behalf_setup(s)
    create_agent(s, "alpha", "second-agent", name="Second", secret=AGENT_SECRET, grant_types=(GRANT_TOKEN_EXCHANGE,),
                 overrides_enabled=True, accept_audience=True)
    put_policy(s, "alpha", "second-agent", OBO_APP, subjects=(USER_ID,), permissions=("read-data",))
    second = Party("second-agent", AGENT_SECRET)
    base = sqlite_server.realm_url("alpha")
    with sqlite_server.client() as http:
        first = exchange(http, base, agent, user_access_token(sqlite_server, app), OBO_APP).json()["access_token"]
        nested = exchange(http, base, second, first, OBO_APP).json()["access_token"]
        assert http.get(f"{base}/tokeninfo", params={"access_token": nested}).status_code == 200
        clock.advance(1)
        delete_agent(s, "alpha", OBO_AGENT)
        create_agent(s, "alpha", OBO_AGENT, name="Impostor", secret=AGENT_SECRET)
        gone = http.get(f"{base}/tokeninfo", params={"access_token": nested})
        assert gone.status_code == 401 and gone.json()["error"] == "invalid_token"
