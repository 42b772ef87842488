"""Two common client libraries, unchanged and with their own defaults, against a live Credo: discovery,
dynamic registration of their own client, client credentials, token exchange (the autonomous seed's agent
exchanging its token for the application), introspection and revocation.

The libraries differ in how they send a client secret when not told: openid-client (npm, v6) in the body
(client_secret_post) whatever the client registered, Authlib's OAuth2Client in an HTTP Basic header
(client_secret_basic). Credo's clients are made both ways (RFC 7591 registration defaults to Basic, the
guides, the command line and the demo to the body), so each library meets a client registered the other
way; none of these calls names a method. Authlib's resource side checks tokens with its RFC 7662
IntrospectTokenValidator (through Authlib's ResourceProtector), which reads the introspection answer as
it comes."""

from __future__ import annotations

import warnings
from typing import Any

import pytest

from tests.factories import ACCESS_TOKEN_TYPE, AUTO_APP, Party, autonomous_setup
from tests.node import last_json, node_unavailable, run_node
from tests.support import LiveServer

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from authlib.integrations.httpx_client import OAuth2Client
    from authlib.oauth2 import ResourceProtector
    from authlib.oauth2.rfc6749.requests import JsonRequest
    from authlib.oauth2.rfc6750 import InvalidTokenError
    from authlib.oauth2.rfc7591 import ClientMetadataClaims
    from authlib.oauth2.rfc7662 import IntrospectTokenValidator
    from authlib.oauth2.rfc8414 import AuthorizationServerMetadata

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
AGENT_SCOPE, EXCHANGE_SCOPE = "monitor-system", "logs-read logs-search"
# openid-client v6 refuses a token response whose refresh_token is not a string; token exchange answers
# `"refresh_token": null` until the change that omits it is merged.


# --- openid-client -----------------------------------------------------------------------------------


def _openid_client(server: LiveServer) -> dict[str, Any]:
    """Every step of tests/js/client_library.mjs against `server`: {step: {ok, ...}}."""
    reason = node_unavailable("openid-client")
    if reason:
        pytest.skip(reason)
    agent, app = autonomous_setup(server.services)
    parties = {"agent": {"client_id": agent.client_id, "secret": agent.secret},
               "app": {"client_id": app.client_id, "secret": app.secret}}
    return dict(last_json(run_node("client_library.mjs", server.realm_url("alpha"), stdin={
        **parties, "audience": app.client_id, "agent_scope": AGENT_SCOPE, "exchange_scope": EXCHANGE_SCOPE})))


# A live server: the library runs in a node process and opens its own connections.
def test_openid_client_discovery_registration_client_credentials_introspection_revocation(
        live_sqlite_server: LiveServer, live_sqlite_demo: dict[str, str]) -> None:
    base = live_sqlite_server.realm_url("alpha")
    out = _openid_client(live_sqlite_server)
    assert out["discovery"] == {"ok": True, "issuer": base, "token_endpoint": f"{base}/access_token",
                                "registration_endpoint": f"{base}/register", "introspection_endpoint": f"{base}/introspect",
                                "revocation_endpoint": f"{base}/token/revoke"}
    registered = out["registration"]
    # Registered with RFC 7591's default method, used with the library's default: the secret in the body.
    assert registered["ok"] and registered["token_endpoint_auth_method"] == "client_secret_basic", registered
    assert registered["scope"] == "data-read" and registered["has_secret"] is True
    assert out["client_credentials"] == {"ok": True, "registered_scope": "data-read", "scope": AGENT_SCOPE,
                                         "token_type": "bearer"}
    assert out["introspection"] == {"ok": True, "active": True, "client_id": registered["client_id"],
                                    "scope": "data-read"}
    assert out["revocation"] == {"ok": True, "active_after": False}
    exchange = out["token_exchange"]
    assert exchange["ok"], exchange  # the exchange answer leaves refresh_token out (openid-client refuses null)


def test_openid_client_token_exchange_and_introspection_of_the_exchanged_token(
        live_sqlite_server: LiveServer, live_sqlite_demo: dict[str, str]) -> None:
    out = _openid_client(live_sqlite_server)
    assert out["token_exchange"] == {"ok": True, "issued_token_type": ACCESS_TOKEN_TYPE, "scope": EXCHANGE_SCOPE,
                                     "token_type": "bearer", "has_refresh_token": False}, out["token_exchange"]
    checked = out["exchanged_introspection_and_revocation"]
    assert checked == {"ok": True, "active": True, "act": {"sub": "bot-traffic-analyzer"},
                       "aud": ["bot-traffic-analyzer", AUTO_APP], "scope": EXCHANGE_SCOPE, "active_after": False}


# --- Authlib -----------------------------------------------------------------------------------------


class CredoIntrospection(IntrospectTokenValidator):  # type: ignore[misc]
    """Authlib's RFC 7662 validator, as its documentation has a resource server write it: the
    introspection request made by Authlib's own client with the resource server's credentials."""

    def __init__(self, endpoint: str, resource_server: Party) -> None:
        super().__init__()
        self.endpoint, self.resource_server = endpoint, resource_server

    def introspect_token(self, token_string: str) -> dict[str, Any]:
        with OAuth2Client(self.resource_server.client_id, self.resource_server.secret, timeout=10) as client:
            return dict(client.introspect_token(self.endpoint, token=token_string).json())


def _bearer_request(token: str) -> JsonRequest:
    return JsonRequest("GET", "https://logs.example/api", headers={"Authorization": f"Bearer {token}"})


def _discover(base: str) -> dict[str, Any]:
    with OAuth2Client(timeout=10) as anonymous:
        r = anonymous.request("GET", f"{base}/.well-known/oauth-authorization-server", withhold_token=True)
    assert r.status_code == 200, r.text
    metadata = AuthorizationServerMetadata(r.json())
    metadata.validate()
    return dict(metadata)


def _register(endpoint: str) -> dict[str, Any]:
    """A registration as the guides write it (client_secret_post), its answer checked by Authlib's RFC 7591
    metadata claims."""
    with OAuth2Client(timeout=10) as anonymous:
        r = anonymous.request("POST", endpoint, withhold_token=True, json={
            "client_name": "Authlib agent", "grant_types": ["client_credentials"], "scopes": ["data-read"],
            "token_endpoint_auth_method": "client_secret_post"})
    assert r.status_code == 201, r.text
    body = dict(r.json())
    ClientMetadataClaims({k: v for k, v in body.items() if k in ClientMetadataClaims.REGISTERED_CLAIMS}, {}).validate()
    return body


# A live server: Authlib's OAuth2Client opens its own connections (it is the client under test).
def test_authlib_discovery_registration_client_credentials_exchange_introspection_revocation(
        live_sqlite_server: LiveServer, live_sqlite_demo: dict[str, str]) -> None:
    base = live_sqlite_server.realm_url("alpha")
    agent, app = autonomous_setup(live_sqlite_server.services)  # both made with client_secret_post
    metadata = _discover(base)
    assert metadata["issuer"] == base and TOKEN_EXCHANGE in metadata["grant_types_supported"]
    reg = _register(metadata["registration_endpoint"])
    assert reg["token_endpoint_auth_method"] == "client_secret_post"
    protector = ResourceProtector()
    protector.register_token_validator(CredoIntrospection(metadata["introspection_endpoint"], app))

    with OAuth2Client(reg["client_id"], reg["client_secret"], scope="data-read", timeout=10) as registered:
        own = registered.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")
        assert own["scope"] == "data-read" and own["token_type"] == "Bearer"
        info = registered.introspect_token(metadata["introspection_endpoint"], token=own["access_token"])
        assert info.status_code == 200 and info.json()["active"] is True, info.text
        assert registered.revoke_token(metadata["revocation_endpoint"], token=own["access_token"]).status_code == 200
        gone = registered.introspect_token(metadata["introspection_endpoint"], token=own["access_token"])
        assert gone.json() == {"active": False}

    with OAuth2Client(agent.client_id, agent.secret, timeout=10) as client:
        agent_token = client.fetch_token(metadata["token_endpoint"], grant_type="client_credentials", scope=AGENT_SCOPE)
        assert agent_token["scope"] == AGENT_SCOPE
        exchanged = client.fetch_token(metadata["token_endpoint"], grant_type=TOKEN_EXCHANGE,
                                       subject_token=agent_token["access_token"], subject_token_type=ACCESS_TOKEN_TYPE,
                                       audience=app.client_id, scope=EXCHANGE_SCOPE)
        assert exchanged["issued_token_type"] == ACCESS_TOKEN_TYPE and exchanged["scope"] == EXCHANGE_SCOPE
        token = exchanged["access_token"]
        # The application, as a resource server, accepts the exchanged token through Authlib's validator.
        introspected = protector.validate_request(["logs-read"], _bearer_request(token))
        assert introspected["active"] is True and introspected["act"] == {"sub": agent.client_id}
        assert introspected["aud"] == [agent.client_id, app.client_id]
        assert client.revoke_token(metadata["revocation_endpoint"], token=token).status_code == 200
    with pytest.raises(InvalidTokenError):
        protector.validate_request(["logs-read"], _bearer_request(token))

