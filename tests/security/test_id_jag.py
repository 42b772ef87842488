"""Identity Assertion JWT Authorization Grants (ID-JAG) over HTTP, on both sides, each refusal with the
RFC's error and each decision audited:

- realm `idp` issues ID-JAGs by token exchange as its administrator's rules allow (which client, which
  audience and resource, which users or groups, which scopes);
- realm `rs` redeems them with the jwt-bearer grant: from `idp` (a realm of the same Credo) or from an
  external issuer whose JWK Set is configured inline (the test signs those)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from jsonschema import Draft202012Validator

from credo.domain.settings import GRANT_JWT_BEARER, GRANT_PASSWORD, GRANT_TOKEN_EXCHANGE
from credo.http.openapi_public import spec_bytes
from credo.management.clients import create_client
from credo.management.groups import put_group
from credo.management.realms import ensure_realm
from credo.management.users import create_user
from credo.oauth.oidc import id_token
from tests.factories import PASSWORD, USER_ID, USERNAME, Signer, assert_oauth_error, now, realm_settings
from tests.signin import resource_server
from tests.support import Server

ID_JAG = "urn:ietf:params:oauth:token-type:id-jag"
ID_TOKEN = "urn:ietf:params:oauth:token-type:id_token"
ACCESS = "urn:ietf:params:oauth:token-type:access_token"
MCP = "https://mcp.example/mcp"
OTHER_MCP = "https://other.example/mcp"
EXTERNAL = "https://idp.partner.example"
SECRET = "client-secret-0123456789abcdef"
OTHER_USER = "7f0c2a54-5d5e-4a57-9d0e-2c6b1f1f0001"


class Setup:
    def __init__(self, server: Server, signer: Signer) -> None:
        self.server, self.signer = server, signer
        self.idp, self.rs = server.realm_url("idp"), server.realm_url("rs")

    def user_token(self, http: httpx.Client, username: str = USERNAME, client_id: str = "mcp-client") -> str:
        r = http.post(f"{self.idp}/access_token", data={"grant_type": "password", "username": username,
                                                        "password": PASSWORD, "client_id": client_id,
                                                        "client_secret": SECRET, "scope": "openid"})
        assert r.status_code == 200, r.text
        return str(r.json()["access_token"])

    def ask(self, http: httpx.Client, subject: str, *, subject_type: str = ACCESS, client_id: str = "mcp-client",
            **changes: str | None) -> httpx.Response:
        data: dict[str, str | None] = {
            "grant_type": GRANT_TOKEN_EXCHANGE, "requested_token_type": ID_JAG, "audience": self.rs,
            "resource": MCP, "subject_token": subject, "subject_token_type": subject_type,
            "client_id": client_id, "client_secret": SECRET}
        data.update(changes)
        return http.post(f"{self.idp}/access_token", data={k: v for k, v in data.items() if v is not None})

    def redeem(self, http: httpx.Client, assertion: str, **changes: str | None) -> httpx.Response:
        data: dict[str, str | None] = {"grant_type": GRANT_JWT_BEARER, "assertion": assertion, "resource": MCP,
                                       "client_id": "mcp-client", "client_secret": SECRET}
        data.update(changes)
        return http.post(f"{self.rs}/access_token", data={k: v for k, v in data.items() if v is not None})

    def external(self, headers: dict[str, Any] | None = None, signer: Signer | None = None, **changes: Any) -> str:
        claims: dict[str, Any] = {"iss": EXTERNAL, "sub": USER_ID, "aud": self.rs, "client_id": "mcp-client",
                                  "jti": uuid.uuid4().hex, "iat": now(), "exp": now() + 300, "resource": MCP,
                                  "scope": "mcp:tools"}
        claims.update(changes)
        return (signer or self.signer).sign({k: v for k, v in claims.items() if v is not None},
                                            headers={"typ": "oauth-id-jag+jwt", **(headers or {})})

    def audit(self, realm: str) -> list[Any]:
        return self.server.services.storage.audit.query(realm, action="id_jag")


@pytest.fixture
def setup(sqlite_server: Server) -> Iterator[Setup]:
    services = sqlite_server.services
    signer = Signer()
    for realm in ("idp", "rs"):
        ensure_realm(services, realm)
        create_user(services, realm, USERNAME, PASSWORD, user_id=USER_ID)
    create_user(services, "idp", "other.user", PASSWORD, user_id=OTHER_USER)
    put_group(services, "idp", "engineering", [USER_ID])
    rs_url = sqlite_server.realm_url("rs")
    realm_settings(services, "idp", grant_types=(GRANT_PASSWORD, GRANT_TOKEN_EXCHANGE), federation={"id_jag_rules": [
        {"client_id": "mcp-client", "audience": rs_url, "resources": [MCP], "groups": ["engineering"],
         "scopes": ["mcp:tools", "mcp:admin"]}]})
    for client_id in ("mcp-client", "no-rule-client"):
        create_client(services, "idp", client_id, kind="application", grant_types=(GRANT_PASSWORD, GRANT_TOKEN_EXCHANGE),
                      scopes=("openid",), secret=SECRET)
    realm_settings(services, "rs", grant_types=(GRANT_JWT_BEARER,), federation={"id_jag_issuers": [
        {"issuer": sqlite_server.realm_url("idp"), "realm": "idp"},
        {"issuer": EXTERNAL, "jwks": signer.jwks}]})
    for client_id in ("mcp-client", "other-client"):
        create_client(services, "rs", client_id, grant_types=(GRANT_JWT_BEARER,), scopes=("mcp:tools",), secret=SECRET)
    resource_server(services, "rs", "mcp-server", MCP)
    resource_server(services, "rs", "other-server", OTHER_MCP)
    yield Setup(sqlite_server, signer)


def test_issued_and_redeemed(setup: Setup) -> None:
    with setup.server.client() as http:
        r = setup.ask(http, setup.user_token(http), scope="mcp:tools")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["issued_token_type"] == ID_JAG and body["token_type"] == "N_A" and "refresh_token" not in body
        spec = json.loads(spec_bytes())  # the answer is the shape the public OpenAPI document describes
        Draft202012Validator({**spec["components"]["schemas"]["TokenResponse"],
                              "components": spec["components"]}).validate(body)
        assertion = body["access_token"]
        assert jwt.get_unverified_header(assertion)["typ"] == "oauth-id-jag+jwt"
        claims = jwt.decode(assertion, options={"verify_signature": False})
        assert {k: claims[k] for k in ("iss", "sub", "aud", "client_id", "resource", "scope")} == {
            "iss": setup.idp, "sub": USER_ID, "aud": setup.rs, "client_id": "mcp-client", "resource": MCP,
            "scope": "mcp:tools"}
        assert claims["exp"] - claims["iat"] == 300 and len(claims["jti"]) == 32
        r = setup.redeem(http, assertion)
        assert r.status_code == 200, r.text
        seen = http.post(f"{setup.rs}/introspect", data={"token": r.json()["access_token"], "client_id": "mcp-server",
                                                          "client_secret": "application-secret-0123456789"}).json()
        assert seen["active"] is True and seen["sub"] == USER_ID and seen["client_id"] == "mcp-client"
        assert seen["aud"] == MCP and seen["scope"] == "mcp:tools"
        # An ID token of this realm, issued to the client, is a subject too (with its auth_time carried over).
        services = setup.server.services
        realm, client = services.realm("idp"), services.client("idp", "mcp-client")
        assert client is not None
        token = asyncio.run(id_token(services, realm, client, {"sub": USER_ID, "auth_time": now() - 60}, "x"))
        r = setup.ask(http, token, subject_type=ID_TOKEN)
        assert r.status_code == 200, r.text
        claims = jwt.decode(r.json()["access_token"], options={"verify_signature": False})
        assert claims["auth_time"] == now() - 60 or abs(claims["auth_time"] - now() + 60) <= 2
        assert claims["scope"] == "mcp:tools mcp:admin"  # nothing asked: what the rule allows
    assert [e.decision for e in setup.audit("idp")] == ["allow", "allow"]
    assert [e.decision for e in setup.audit("rs")] == ["allow"]


def test_identity_provider_refusals(setup: Setup) -> None:
    services = setup.server.services
    with setup.server.client() as http:
        subject = setup.user_token(http)
        assert_oauth_error(setup.ask(http, setup.user_token(http, client_id="no-rule-client"),
                                     client_id="no-rule-client"), 400, "unauthorized_client")
        assert_oauth_error(setup.ask(http, subject, audience="https://elsewhere.example"), 400, "invalid_target")
        assert_oauth_error(setup.ask(http, subject, resource=OTHER_MCP), 400, "invalid_target")
        assert_oauth_error(setup.ask(http, subject, resource=None), 400, "invalid_target")
        assert_oauth_error(setup.ask(http, subject, audience=None), 400, "invalid_request")
        # A user outside the rule's users and groups.
        assert_oauth_error(setup.ask(http, setup.user_token(http, "other.user")), 403, "access_denied")
        # Subject tokens: unknown, another client's, an ID token for another client, a wrong type.
        assert_oauth_error(setup.ask(http, "no-such-token"), 400, "invalid_grant")
        assert_oauth_error(setup.ask(http, setup.user_token(http, client_id="no-rule-client")), 400, "invalid_grant")
        realm, other = services.realm("idp"), services.client("idp", "no-rule-client")
        assert other is not None
        foreign = asyncio.run(id_token(services, realm, other, {"sub": USER_ID}, "x"))
        assert_oauth_error(setup.ask(http, foreign, subject_type=ID_TOKEN), 400, "invalid_grant")
        assert_oauth_error(setup.ask(http, subject, subject_type="urn:ietf:params:oauth:token-type:saml2"), 400,
                           "invalid_request")
        # A client that did not register token exchange: refused by the pipeline, audited with the ID-JAGs.
        create_client(services, "idp", "no-exchange", grant_types=(GRANT_PASSWORD,), secret=SECRET)
        assert_oauth_error(setup.ask(http, subject, client_id="no-exchange"), 400, "unauthorized_client")
    denials = [e for e in setup.audit("idp") if e.decision == "deny"]
    assert len(denials) == 11 and all(e.reason for e in denials)
    assert denials[0].actor == "no-exchange" and denials[0].target == setup.rs
    assert not [e for e in setup.audit("idp") if e.decision == "allow"]


def test_receiving_refusals(setup: Setup) -> None:
    ext = setup.external
    with setup.server.client() as http:
        assert setup.redeem(http, ext()).status_code == 200  # the external issuer's, configured by JWK Set

        def refused(assertion: str, status: int = 400, error: str = "invalid_grant", **changes: str | None) -> None:
            assert_oauth_error(setup.redeem(http, assertion, **changes), status, error)

        refused(ext(iss="https://unknown.example", headers={"typ": "oauth-id-jag+jwt"}))
        refused(ext(headers={"typ": "JWT"}))  # a trusted issuer's token that is not an ID-JAG
        refused(ext(aud="https://another-as.example"))
        refused(ext(client_id="other-client"))
        refused(ext(exp=now() - 1))
        refused(ext(jti=None))
        refused(ext(sub="no-such-user"))
        refused(ext(signer=Signer(kid=setup.signer.kid)))  # a key the realm does not trust
        refused(ext(), error="invalid_target", resource=OTHER_MCP)  # a resource the ID-JAG does not name
        replayed = ext()
        assert setup.redeem(http, replayed).status_code == 200
        refused(replayed)
        # The ID-JAG is for the client that presents it, which must authenticate.
        refused(ext(), 401, "invalid_client", client_secret=None, client_id=None)
        refused(ext(), 401, "invalid_client", client_secret="wrong")
        # A client that authenticated as another client than the ID-JAG names.
        refused(ext(), client_id="other-client")
        # An ID-JAG's scope bounds the access token's.
        refused(ext(scope="mcp:other"), error="invalid_scope", scope="mcp:tools")
    decisions = [e.decision for e in setup.audit("rs")]
    assert decisions.count("deny") == 11 and decisions.count("allow") == 3


def test_discovery_advertises_both_sides(setup: Setup) -> None:
    with setup.server.client() as http:
        idp = http.get(f"{setup.idp}/.well-known/openid-configuration").json()
        rs = http.get(f"{setup.rs}/.well-known/openid-configuration").json()
    assert ID_JAG in idp["token_exchange_token_types_supported"] and ID_TOKEN in idp["token_exchange_token_types_supported"]
    assert "authorization_grant_profiles_supported" not in idp
    assert rs["authorization_grant_profiles_supported"] == ["urn:ietf:params:oauth:grant-profile:id-jag"]
    assert GRANT_JWT_BEARER in rs["grant_types_supported"]
    assert ID_JAG not in rs["token_exchange_token_types_supported"]
