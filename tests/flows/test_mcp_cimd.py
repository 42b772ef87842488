"""Client ID Metadata Documents with the `mcp` SDK, over real HTTP: `OAuthClientProvider(client_metadata_url=...)`
finds `client_id_metadata_document_supported` in the realm's metadata, uses its document's URL as its client id
(no registration), and completes the code flow; Credo fetches the document from a local HTTPS server (a test CA,
reached through the test-only fetch settings), shows the document's host on the consent page, and keeps the
client as a dynamic client with its last use."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import httpx
import httpx2
import pytest
from mcp.client import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientMetadata
from pydantic import AnyUrl

from credo.domain.clock import FrozenClock
from credo.management.users import create_user
from credo.storage.protocols import Storage
from tests.docserver import DocServer, doc_server, make_ca
from tests.factories import PASSWORD, USER_ID, USERNAME, demo_secrets, realm_settings
from tests.flows.test_mcp_sdk import CALLBACK, SCOPE, IntrospectingVerifier, MemoryStorage, mcp_server_app, whoami_text
from tests.signin import enable_code_flow, location_params, resource_server, sign_in, submit
from tests.support import LiveServer, free_port, live_server, run_async, uvicorn_serving


@dataclass
class Setup:
    credo: LiveServer
    docs: DocServer
    mcp_url: str

    @property
    def realm_url(self) -> str:
        return self.credo.realm_url("alpha")


@pytest.fixture
def setup(sql_storage: Storage, clock: FrozenClock, tmp_path: Path) -> Iterator[Setup]:
    ca = make_ca(tmp_path)
    with doc_server(ca) as docs, live_server(sql_storage, tmp_path, clock=clock,
                                             unsafe_test_only_fetch_resolve={"cimd.test": "127.0.0.1"},
                                             unsafe_test_only_fetch_ca_file=ca.ca_file) as credo:
        services = credo.services
        demo_secrets(services)
        enable_code_flow(services)
        realm_settings(services, "alpha", registration_scope_allowlist=("openid", "offline_access", SCOPE),
                       client_id_metadata_documents={"enabled": True})
        create_user(services, "alpha", USERNAME, PASSWORD, user_id=USER_ID)
        port = free_port()
        mcp_url = f"http://127.0.0.1:{port}/mcp"
        credentials = resource_server(services, "alpha", "mcp-server", mcp_url)
        realm_url = credo.realm_url("alpha")
        verifier = IntrospectingVerifier(f"{realm_url}/introspect", credentials, mcp_url)
        with uvicorn_serving(mcp_server_app(realm_url, mcp_url, verifier), port, lifespan="on"):
            yield Setup(credo, docs, mcp_url)


@dataclass
class ConsentBrowser:
    consent_pages: list[str] = field(default_factory=list)
    result: AuthorizationCodeResult | None = None

    async def open(self, url: str) -> None:
        self.result = await anyio.to_thread.run_sync(self._go, url)

    async def callback(self) -> AuthorizationCodeResult:
        assert self.result is not None
        return self.result

    def _go(self, url: str) -> AuthorizationCodeResult:
        with httpx.Client(timeout=10) as http:
            consent = sign_in(http, http.get(url))
            assert consent.status_code == 200 and 'value="allow"' in consent.text, consent.text[:500]
            self.consent_pages.append(consent.text)
            back = submit(http, consent, decision="allow")
        params = location_params(back)
        return AuthorizationCodeResult(code=params["code"], state=params.get("state"), iss=params.get("iss"))


def test_sdk_client_metadata_url_completes_the_code_flow(setup: Setup) -> None:
    document_url = setup.docs.serve_json("/clients/notes-agent.json", {
        "client_id": setup.docs.url("/clients/notes-agent.json"), "client_name": "Notes agent",
        "redirect_uris": [CALLBACK], "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"], "token_endpoint_auth_method": "none", "scope": f"{SCOPE} offline_access"},
        **{"Cache-Control": "max-age=600"})
    browser, storage = ConsentBrowser(), MemoryStorage()
    provider = OAuthClientProvider(
        setup.mcp_url, OAuthClientMetadata(client_name="Notes agent", redirect_uris=[AnyUrl(CALLBACK)],
                                           token_endpoint_auth_method="none"),
        storage, redirect_handler=browser.open, callback_handler=browser.callback, client_metadata_url=document_url)

    async def session() -> str:
        async with httpx2.AsyncClient(auth=provider, timeout=10) as http, \
                Client(streamable_http_client(setup.mcp_url, http_client=http)) as mcp:
            return whoami_text(await mcp.call_tool("whoami", {}))

    assert run_async(session()) == f"{USER_ID} via {document_url}"
    assert storage.client_info is not None and storage.client_info.client_id == document_url
    [page] = browser.consent_pages
    assert 'id="document-host"' in page and "<strong>cimd.test</strong>" in page
    # Fetched once (cached by its max-age), and kept as a dynamic client with its last use.
    assert setup.docs.hits == ["/clients/notes-agent.json"]
    services = setup.credo.services
    stored = services.storage.clients.get("alpha", document_url)
    assert stored is not None and stored.dynamic and stored.name == "Notes agent" and stored.auth_method == "none"
    assert services.storage.clients.last_used("alpha", document_url) is not None
    with httpx.Client() as http:
        meta = http.get(f"{setup.realm_url}/.well-known/openid-configuration").json()
    assert meta["client_id_metadata_document_supported"] is True
