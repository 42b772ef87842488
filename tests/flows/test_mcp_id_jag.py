"""Enterprise-managed authorization of an MCP client (SEP-990, the Identity Assertion JWT Authorization
Grant) with the `mcp` SDK's own `IdentityAssertionOAuthProvider`, unchanged, over real HTTP; Credo is both
parties:

- realm `alpha` is the enterprise identity provider: the user signs in to the MCP client there (the code
  flow, an ID token); the client trades that ID token for an ID-JAG by token exchange, as the realm's
  ID-JAG rule allows it (this client, for that authorization server and MCP server, for that group);
- realm `beta` is the MCP server's authorization server: it trusts `alpha`'s ID-JAGs, and the SDK's
  provider redeems the ID-JAG there with the jwt-bearer grant, then calls the MCP server's tool.

Credo and the MCP server (built with the same SDK, checking tokens by introspection at `beta`) are each
served by uvicorn on a loopback port."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import httpx2
import jwt
import pytest
from mcp.client import Client
from mcp.client.auth import OAuthTokenError
from mcp.client.auth.extensions.identity_assertion import IdentityAssertionOAuthProvider
from mcp.client.streamable_http import streamable_http_client

from credo.domain.settings import (
    GRANT_AUTHORIZATION_CODE,
    GRANT_JWT_BEARER,
    GRANT_TOKEN_EXCHANGE,
)
from credo.management.clients import create_client
from credo.management.groups import put_group
from credo.management.realms import ensure_realm
from credo.management.users import create_user
from credo.storage.protocols import Storage
from tests.factories import PASSWORD, USER_ID, USERNAME, Party, realm_settings
from tests.flows.test_mcp_sdk import SCOPE, IntrospectingVerifier, MemoryStorage, Trail, mcp_server_app, whoami_text
from tests.signin import BROWSER_GRANTS, REDIRECT, obtain_code, pkce, redeem, resource_server
from tests.support import LiveServer, free_port, live_server, run_async, uvicorn_serving

ID_JAG_TYPE = "urn:ietf:params:oauth:token-type:id-jag"
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"
IDP_SECRET = "idp-client-secret-0123456789abcdef"
AS_SECRET = "as-client-secret-0123456789abcdef"
GROUP = "mcp-users"


@dataclass
class Enterprise:
    credo: LiveServer
    mcp_url: str
    id_token: str
    mcp_credentials: Party
    assertions: list[str] = field(default_factory=list)

    @property
    def idp_url(self) -> str:
        return self.credo.realm_url("alpha")

    @property
    def as_url(self) -> str:
        return self.credo.realm_url("beta")

    async def id_jag(self, audience: str, resource: str) -> str:
        """The SDK's assertion_provider: the token exchange at the identity provider (leg 1 of SEP-990)."""
        async with httpx.AsyncClient(timeout=10) as http:
            r = await http.post(f"{self.idp_url}/access_token", data={
                "grant_type": GRANT_TOKEN_EXCHANGE, "requested_token_type": ID_JAG_TYPE, "audience": audience,
                "resource": resource, "scope": SCOPE, "subject_token": self.id_token,
                "subject_token_type": ID_TOKEN_TYPE, "client_id": "mcp-client", "client_secret": IDP_SECRET})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["issued_token_type"] == ID_JAG_TYPE and body["token_type"] == "N_A", body
        self.assertions.append(body["access_token"])
        return str(body["access_token"])


@pytest.fixture
def enterprise(sql_storage: Storage, tmp_path: Path) -> Iterator[Enterprise]:
    with live_server(sql_storage, tmp_path) as credo:
        services = credo.services
        for realm in ("alpha", "beta"):
            ensure_realm(services, realm)
            create_user(services, realm, USERNAME, PASSWORD, user_id=USER_ID)
        port = free_port()
        mcp_url = f"http://127.0.0.1:{port}/mcp"
        # The identity provider: the MCP client signs users in, and may obtain ID-JAGs for beta's MCP server.
        put_group(services, "alpha", GROUP, [USER_ID])
        realm_settings(services, "alpha", grant_types=BROWSER_GRANTS, federation={"id_jag_rules": [
            {"client_id": "mcp-client", "audience": credo.realm_url("beta"), "resources": [mcp_url],
             "groups": [GROUP], "scopes": [SCOPE]}]})
        create_client(services, "alpha", "mcp-client", kind="application", name="MCP client", app_type="web",
                      grant_types=(GRANT_AUTHORIZATION_CODE, GRANT_TOKEN_EXCHANGE), scopes=("openid", "profile"),
                      secret=IDP_SECRET, redirect_uris=(REDIRECT,), skip_consent=True)
        # The MCP server's authorization server: trusts alpha's ID-JAGs. It serves the code flow too: the SDK's
        # metadata model requires an `authorization_endpoint`, which Credo lists only where the code flow is on.
        realm_settings(services, "beta", grant_types=(*BROWSER_GRANTS, GRANT_JWT_BEARER), federation={"id_jag_issuers": [
            {"issuer": credo.realm_url("alpha"), "realm": "alpha"}]})
        create_client(services, "beta", "mcp-client", name="MCP client", grant_types=(GRANT_JWT_BEARER,),
                      scopes=(SCOPE,), secret=AS_SECRET)
        credentials = resource_server(services, "beta", "mcp-server", mcp_url)
        with httpx.Client(timeout=10) as http:
            challenge = pkce()
            code = obtain_code(http, credo.realm_url("alpha"), "mcp-client", challenge=challenge, scope="openid")
            r = redeem(http, credo.realm_url("alpha"), code["code"], challenge, "mcp-client", client_secret=IDP_SECRET)
            assert r.status_code == 200, r.text
            id_token = r.json()["id_token"]
        verifier = IntrospectingVerifier(f"{credo.realm_url('beta')}/introspect", credentials, mcp_url)
        with uvicorn_serving(mcp_server_app(credo.realm_url("beta"), mcp_url, verifier), port, lifespan="on"):
            yield Enterprise(credo, mcp_url, id_token, credentials)


def provider(setup: Enterprise, storage: MemoryStorage, secret: str = AS_SECRET) -> IdentityAssertionOAuthProvider:
    return IdentityAssertionOAuthProvider(setup.mcp_url, storage, "mcp-client", secret, issuer=setup.as_url,
                                          assertion_provider=setup.id_jag, scope=SCOPE)


def test_sdk_identity_assertion_provider_reaches_the_tool(enterprise: Enterprise) -> None:
    storage, trail = MemoryStorage(), Trail()
    auth = provider(enterprise, storage)

    async def session() -> tuple[list[str], str]:
        async with httpx2.AsyncClient(auth=auth, timeout=10, event_hooks={"response": [trail.record]}) as http, \
                Client(streamable_http_client(enterprise.mcp_url, http_client=http)) as mcp:
            tools = [tool.name for tool in (await mcp.list_tools()).tools]
            return tools, whoami_text(await mcp.call_tool("whoami", {}))

    tools, who = run_async(session())
    assert tools == ["whoami"] and who == f"{USER_ID} via mcp-client"
    as_path = urlsplit(enterprise.as_url).path
    assert [s for s in trail.steps if s[1] != "/mcp"] == [
        ("GET", f"/.well-known/oauth-authorization-server{as_path}", "", 200),
        ("POST", f"{as_path}/access_token", GRANT_JWT_BEARER, 200)]
    # The ID-JAG the identity provider issued: typed, for beta's issuer, this client and this MCP server.
    [assertion] = enterprise.assertions
    header = jwt.get_unverified_header(assertion)
    claims = jwt.decode(assertion, options={"verify_signature": False})
    assert header["typ"] == "oauth-id-jag+jwt"
    assert claims["iss"] == enterprise.idp_url and claims["aud"] == enterprise.as_url
    assert claims["sub"] == USER_ID and claims["client_id"] == "mcp-client"
    assert claims["resource"] == enterprise.mcp_url and claims["scope"] == SCOPE
    assert {"jti", "iat", "exp", "auth_time"} <= set(claims)
    # Redeemed once: the same ID-JAG again is refused (single-use jti).
    with httpx.Client(timeout=10) as http:
        again = http.post(f"{enterprise.as_url}/access_token", data={
            "grant_type": GRANT_JWT_BEARER, "assertion": assertion, "resource": enterprise.mcp_url,
            "client_id": "mcp-client", "client_secret": AS_SECRET})
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    # Both sides audited the decision.
    audit = enterprise.credo.services.storage.audit
    assert [e.decision for e in audit.query("alpha", action="id_jag")] == ["allow"]
    assert sorted(e.decision for e in audit.query("beta", action="id_jag")) == ["allow", "deny"]


def test_sdk_provider_with_a_wrong_client_secret_gets_no_token(enterprise: Enterprise) -> None:
    auth = provider(enterprise, MemoryStorage(), secret="wrong-secret")

    async def session() -> None:
        async with httpx2.AsyncClient(auth=auth, timeout=10) as http, \
                Client(streamable_http_client(enterprise.mcp_url, http_client=http)) as mcp:
            await mcp.list_tools()

    with pytest.raises(BaseException) as raised:
        run_async(session())
    error: BaseException = raised.value
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    assert isinstance(error, OAuthTokenError) and "(401)" in str(error) and '"invalid_client"' in str(error), error
    assert enterprise.assertions  # the ID-JAG was issued; the authorization server refused the client
