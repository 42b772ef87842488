"""The Model Context Protocol's Python SDK (`mcp`) against Credo, unchanged, over real HTTP.

An MCP server built with the SDK (its auth settings: Credo's realm as the authorization server, its own URL as
the resource, tokens checked against that resource) asks Credo about every bearer token by introspection
(RFC 7662). The SDK's clients find Credo on their own: a 401, the protected resource metadata (RFC 9728), the
realm's metadata, dynamic registration, the browser step (Credo's sign-in and consent pages, driven with
httpx), the code with PKCE and `resource` (RFC 8707), tools listed and called, the refresh once the access
token has expired; and the client-credentials provider with a confidential client. Credo and the MCP server
are each served by uvicorn on a loopback port; Credo's clock is frozen and is also the SDK client's clock, so
expiry is moved by the test, not waited for."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

import anyio
import httpx
import httpx2
import mcp.client.auth.oauth2 as sdk_oauth2
import mcp.shared.auth_utils as sdk_auth_utils
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from mcp.client import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.auth.extensions.client_credentials import (
    ClientCredentialsOAuthProvider,
    PrivateKeyJWTOAuthProvider,
    SignedJWTParameters,
)
from mcp.client.streamable_http import streamable_http_client
from mcp.server import MCPServer
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken
from mcp.types import CallToolResult, TextContent
from pydantic import AnyHttpUrl, AnyUrl
from starlette.applications import Starlette

from credo.domain.clock import FrozenClock
from credo.domain.settings import GRANT_CLIENT_CREDENTIALS
from credo.management.clients import create_client
from credo.management.users import create_user
from credo.storage.protocols import Storage
from tests.factories import PASSWORD, USER_ID, USERNAME, Party, demo_secrets, realm_settings
from tests.signin import enable_code_flow, location_params, resource_server, sign_in, submit
from tests.support import LiveServer, free_port, live_server, run_async, uvicorn_serving

SCOPE = "mcp:tools"
CALLBACK = "http://127.0.0.1/callback"  # a native client's loopback redirect; never served, the browser stops there
LIFETIME = 60


class IntrospectingVerifier:
    """The MCP server's token verifier: asks Credo (RFC 7662) with the MCP server's own client credentials and
    accepts only an active token whose audience is this MCP server."""

    def __init__(self, introspection_endpoint: str, credentials: Party, resource: str) -> None:
        self.endpoint, self.credentials, self.resource = introspection_endpoint, credentials, resource

    async def verify_token(self, token: str) -> AccessToken | None:
        async with httpx.AsyncClient(timeout=10) as http:
            r = await http.post(self.endpoint, data={"token": token, **self.credentials.auth})
        body = r.json() if r.status_code == 200 else {}
        aud = body.get("aud")
        audiences = [aud] if isinstance(aud, str) else list(aud or [])
        if body.get("active") is not True or self.resource not in audiences:
            return None
        return AccessToken(token=token, client_id=body["client_id"], scopes=body.get("scope", "").split(),
                           expires_at=body["exp"], resource=self.resource, subject=body["sub"],
                           claims={"iss": body["iss"]})


def mcp_server_app(issuer: str, url: str, verifier: IntrospectingVerifier) -> Starlette:
    server = MCPServer("credo-test-mcp", token_verifier=verifier, auth=AuthSettings(
        issuer_url=AnyHttpUrl(issuer), resource_server_url=AnyHttpUrl(url), validate_token_resource=True,
        required_scopes=[SCOPE]))

    @server.tool()
    def whoami() -> str:
        """Who the bearer token speaks for, and through which client."""
        token = get_access_token()
        assert token is not None
        return f"{token.subject} via {token.client_id}"

    return server.streamable_http_app(streamable_http_path=urlsplit(url).path)


@dataclass
class Setup:
    credo: LiveServer
    clock: FrozenClock
    mcp_url: str
    mcp_credentials: Party

    @property
    def realm_url(self) -> str:
        return self.credo.realm_url("alpha")

    def introspect(self, token: str) -> dict[str, object]:
        with self.credo.client() as http:
            r = http.post(f"{self.realm_url}/introspect", data={"token": token, **self.mcp_credentials.auth})
        assert r.status_code == 200, r.text
        return dict(r.json())


@pytest.fixture
def setup(sql_storage: Storage, clock: FrozenClock, tmp_path: Path) -> Iterator[Setup]:
    """Credo (SQLite and PostgreSQL) with a realm ready for MCP clients, and the SDK's MCP server."""
    with live_server(sql_storage, tmp_path, clock=clock) as credo:
        services = credo.services
        demo_secrets(services)
        enable_code_flow(services)
        realm_settings(services, "alpha", allow_open_registration=True, access_token_lifetime=LIFETIME,
                       registration_scope_allowlist=("openid", "profile", "email", "offline_access", SCOPE))
        create_user(services, "alpha", USERNAME, PASSWORD, user_id=USER_ID)
        port = free_port()
        mcp_url = f"http://127.0.0.1:{port}/mcp"
        credentials = resource_server(services, "alpha", "mcp-server", mcp_url)
        realm_url = credo.realm_url("alpha")
        verifier = IntrospectingVerifier(f"{realm_url}/introspect", credentials, mcp_url)
        with uvicorn_serving(mcp_server_app(realm_url, mcp_url, verifier), port, lifespan="on"):
            yield Setup(credo, clock, mcp_url, credentials)


@dataclass
class MemoryStorage:
    """The SDK's TokenStorage, in memory."""

    tokens: OAuthToken | None = None
    client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


@dataclass
class Browser:
    """The user's browser: the provider sends it to the authorization URL; it signs in on Credo's page,
    allows on the consent page and hands the redirect's code, state and iss back to the provider."""

    visits: list[str] = field(default_factory=list)
    result: AuthorizationCodeResult | None = None

    async def open(self, authorization_url: str) -> None:
        self.visits.append(authorization_url)
        self.result = await anyio.to_thread.run_sync(self._sign_in_and_allow, authorization_url)

    async def callback(self) -> AuthorizationCodeResult:
        assert self.result is not None
        return self.result

    @staticmethod
    def _sign_in_and_allow(url: str) -> AuthorizationCodeResult:
        with httpx.Client(timeout=10) as http:
            consent = sign_in(http, http.get(url))
            assert consent.status_code == 200 and 'value="allow"' in consent.text, consent.text[:300]
            back = submit(http, consent, decision="allow")
        params = location_params(back)
        assert back.headers["location"].startswith(f"{CALLBACK}?"), back.headers["location"]
        return AuthorizationCodeResult(code=params["code"], state=params.get("state"), iss=params.get("iss"))


@dataclass
class Trail:
    """What the SDK client sent and got back: (method, path, grant_type of a token request, status)."""

    steps: list[tuple[str, str, str, int]] = field(default_factory=list)

    async def record(self, response: httpx2.Response) -> None:
        request = response.request
        token_request = request.url.path.endswith("/access_token")
        grant = httpx.QueryParams(request.content.decode()).get("grant_type", "") if token_request else ""
        self.steps.append((request.method, request.url.path, grant, response.status_code))


def share_clock(monkeypatch: pytest.MonkeyPatch, clock: FrozenClock) -> None:
    """The SDK client reads the time where it computes and checks token expiry; give it Credo's clock."""
    frozen = SimpleNamespace(time=lambda: float(clock.now()))
    monkeypatch.setattr(sdk_oauth2, "time", frozen)
    monkeypatch.setattr(sdk_auth_utils, "time", frozen)


def whoami_text(result: CallToolResult) -> str:
    assert not result.is_error and isinstance(result.content[0], TextContent), result
    return result.content[0].text


def test_authorization_code_flow_dynamic_registration_and_refresh(setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    share_clock(monkeypatch, setup.clock)
    browser, storage, trail = Browser(), MemoryStorage(), Trail()
    provider = OAuthClientProvider(
        setup.mcp_url, OAuthClientMetadata(client_name="SDK test client", redirect_uris=[AnyUrl(CALLBACK)],
                                           token_endpoint_auth_method="none"),
        storage, redirect_handler=browser.open, callback_handler=browser.callback)

    async def session() -> tuple[list[str], str, OAuthToken, str]:
        async with httpx2.AsyncClient(auth=provider, timeout=10, event_hooks={"response": [trail.record]}) as http, \
                Client(streamable_http_client(setup.mcp_url, http_client=http)) as mcp:
            tools = [tool.name for tool in (await mcp.list_tools()).tools]
            first = whoami_text(await mcp.call_tool("whoami", {}))
            assert storage.tokens is not None
            issued = storage.tokens
            setup.clock.advance(LIFETIME + 1)  # the access token expires, for Credo and for the SDK client alike
            again = whoami_text(await mcp.call_tool("whoami", {}))
            return tools, first, issued, again

    tools, first, issued, again = run_async(session())
    realm_path = urlsplit(setup.realm_url).path
    # The discovery the SDK made on its own, and every request it sent to Credo: register, redeem, refresh.
    assert trail.steps[:2] == [("POST", "/mcp", "", 401), ("GET", "/.well-known/oauth-protected-resource/mcp", "", 200)]
    assert [step for step in trail.steps if step[1] != "/mcp"][1:] == [
        ("GET", f"/.well-known/oauth-authorization-server{realm_path}", "", 200),
        ("POST", f"{realm_path}/register", "", 201),
        ("POST", f"{realm_path}/access_token", "authorization_code", 200),
        ("POST", f"{realm_path}/access_token", "refresh_token", 200)]
    registered = storage.client_info
    assert registered is not None and registered.issuer == setup.realm_url
    assert tools == ["whoami"]
    assert first == again == f"{USER_ID} via {registered.client_id}"
    # One trip through the browser, with PKCE, the resource and the scope the MCP server publishes.
    [visit] = browser.visits
    query = httpx.URL(visit).params
    assert visit.startswith(f"{setup.realm_url}/authorize?") and query["code_challenge_method"] == "S256"
    assert query["resource"] == setup.mcp_url and SCOPE in query["scope"].split()
    # The refreshed token replaced the first one, which Credo no longer honours; both are for the MCP server.
    refreshed = storage.tokens
    assert refreshed is not None and refreshed.access_token != issued.access_token
    assert refreshed.refresh_token not in (None, issued.refresh_token)
    assert setup.introspect(issued.access_token) == {"active": False}
    current = setup.introspect(refreshed.access_token)
    assert current["active"] is True and current["aud"] == setup.mcp_url and current["sub"] == USER_ID
    assert SCOPE in str(current["scope"]).split()


def test_client_credentials_provider(setup: Setup) -> None:
    _, secret = create_client(setup.credo.services, "alpha", "mcp-agent", grant_types=(GRANT_CLIENT_CREDENTIALS,),
                              scopes=(SCOPE,), auth_method="client_secret_basic")
    assert secret is not None
    storage = MemoryStorage()
    provider = ClientCredentialsOAuthProvider(setup.mcp_url, storage, "mcp-agent", secret, issuer=setup.realm_url)

    async def session() -> str:
        async with httpx2.AsyncClient(auth=provider, timeout=10) as http, \
                Client(streamable_http_client(setup.mcp_url, http_client=http)) as mcp:
            return whoami_text(await mcp.call_tool("whoami", {}))

    assert run_async(session()) == "mcp-agent via mcp-agent"
    assert storage.tokens is not None
    assert setup.introspect(storage.tokens.access_token)["aud"] == setup.mcp_url
    # The same client's token without `resource` is not for the MCP server, which turns it away.
    with setup.credo.client() as http:
        r = http.post(f"{setup.realm_url}/access_token", auth=("mcp-agent", secret),
                      data={"grant_type": "client_credentials", "scope": SCOPE})
        assert r.status_code == 200, r.text
        refused = httpx.post(setup.mcp_url, headers={"authorization": f"Bearer {r.json()['access_token']}"},
                             json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert refused.status_code == 401 and "resource_metadata=" in refused.headers["www-authenticate"]


def test_private_key_jwt_provider(setup: Setup) -> None:
    """The SDK's PrivateKeyJWTOAuthProvider: client credentials with an assertion signed by the agent's own RSA
    key (RFC 7523 §2.2), registered with its public key only, reaches a tool call; no secret exists."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = {**json.loads(RSAAlgorithm.to_jwk(key.public_key())), "kid": "agent-key-1", "alg": "RS256", "use": "sig"}
    client, secret = create_client(setup.credo.services, "alpha", "keyed-agent", grant_types=(GRANT_CLIENT_CREDENTIALS,),
                                   scopes=(SCOPE,), auth_method="private_key_jwt", keys={"jwks": {"keys": [jwk]}})
    assert secret is None and client.secret_hash is None
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    signed = SignedJWTParameters(issuer="keyed-agent", subject="keyed-agent", signing_key=pem, lifetime_seconds=120)
    storage = MemoryStorage()
    provider = PrivateKeyJWTOAuthProvider(setup.mcp_url, storage, "keyed-agent", signed.create_assertion_provider(),
                                          scope=SCOPE, issuer=setup.realm_url)

    async def session() -> str:
        async with httpx2.AsyncClient(auth=provider, timeout=10) as http, \
                Client(streamable_http_client(setup.mcp_url, http_client=http)) as mcp:
            return whoami_text(await mcp.call_tool("whoami", {}))

    assert run_async(session()) == "keyed-agent via keyed-agent"
    assert storage.tokens is not None
    assert setup.introspect(storage.tokens.access_token)["aud"] == setup.mcp_url
