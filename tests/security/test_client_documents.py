"""Client ID Metadata Documents and `jwks_uri` key sets, refused: every rule of the document, the realm's
switch and host lists, and the SSRF guard (private, loopback, link-local, IPv6, numeric host forms,
redirects, oversize and slow answers) — /authorize shows the refusal on a page, client authentication
answers `invalid_client`, and a refused target never receives a connection (a listening socket counts them)."""

from __future__ import annotations

import html
import json
import ssl
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from credo.management.clients import create_client
from credo.oauth.client_assertion import ASSERTION_TYPE
from credo.oauth.services import document_fetcher
from credo.settings import Settings
from tests.docserver import DocServer, Route, counting_listener, doc_server, make_ca
from tests.factories import Signer, assert_oauth_error, demo_secrets, realm_settings
from tests.signin import authorize, enable_code_flow, pkce
from tests.support import InProcessServer, in_process_server, make_storage

CALLBACK = "http://127.0.0.1/callback"
PAGE_PREFIX = "The application&#39;s metadata document cannot be used: "


@pytest.fixture
def env(tmp_path: Path) -> Iterator[tuple[InProcessServer, DocServer]]:
    ca = make_ca(tmp_path)
    with doc_server(ca) as docs, make_storage("sqlite", tmp_path) as storage, in_process_server(
            storage, tmp_path, auth_failure_limit=1000, auth_identity_failure_limit=1000,
            unsafe_test_only_fetch_resolve={"cimd.test": "127.0.0.1"},
            unsafe_test_only_fetch_ca_file=ca.ca_file) as server:
        demo_secrets(server.services)
        enable_code_flow(server.services)
        realm_settings(server.services, "alpha", registration_scope_allowlist=("openid", "profile"),
                       client_id_metadata_documents={"enabled": True})
        yield server, docs


def good_document(url: str, **changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"client_id": url, "client_name": "Doc client", "redirect_uris": [CALLBACK],
                           "scope": "openid", "token_endpoint_auth_method": "none"}
    doc.update(changes)
    return {k: v for k, v in doc.items() if v is not None}


def page_refusal(r: httpx.Response) -> str:
    """The reason shown on the refusal page of /authorize (400, never a redirect)."""
    assert r.status_code == 400 and "location" not in r.headers, (r.status_code, r.text[:300])
    assert 'id="problem"' in r.text and "invalid_request" in r.text
    start = r.text.index(PAGE_PREFIX) + len(PAGE_PREFIX)
    return html.unescape(r.text[start:r.text.index("</div>", start)]).removesuffix(".")


def token_refusal(http: httpx.Client, base: str, client_id: str) -> None:
    r = http.post(f"{base}/access_token", data={"grant_type": "authorization_code", "code": "x", "client_id": client_id,
                                                "code_verifier": "v" * 43, "redirect_uri": CALLBACK})
    assert_oauth_error(r, 401, "invalid_client")


def test_a_good_document_then_every_rule(env: tuple[InProcessServer, DocServer]) -> None:
    server, docs = env
    base = server.realm_url("alpha")
    url = docs.serve_json("/ok.json", good_document(docs.url("/ok.json")))
    with server.client() as http:
        ok = authorize(http, base, url, redirect_uri=CALLBACK, scope="openid", challenge=pkce())
        assert ok.status_code == 200 and "Sign in" in ok.text, ok.text[:300]  # a known client: the sign-in page
        secret_doc = {"client_secret": "s3cret", "token_endpoint_auth_method": "client_secret_post"}
        cases: list[tuple[str, dict[str, Any], str]] = [
            ("/other-id.json", {"client_id": docs.url("/not-this-one.json")}, "the document's client_id is not exactly its URL"),
            ("/no-name.json", {"client_name": None}, "the document has no client_name"),
            ("/no-redirects.json", {"redirect_uris": None}, "the document has no redirect_uris"),
            ("/secret.json", secret_doc, "the document holds client_secret: a metadata document cannot use a shared secret"),
            ("/secret-exp.json", {"client_secret_expires_at": 0},
             "the document holds client_secret_expires_at: a metadata document cannot use a shared secret"),
            ("/basic.json", {"token_endpoint_auth_method": "client_secret_basic"},
             "the document's token_endpoint_auth_method must be none or private_key_jwt"),
            ("/private-key.json", {"token_endpoint_auth_method": "private_key_jwt",
                                   "jwks": {"keys": [{**Signer().jwks["keys"][0], "d": "AAAA"}]}},
             "the document is not valid client metadata: jwks: private key material is not allowed."),
            ("/bad-redirect.json", {"redirect_uris": ["http://evil.example/cb"]},
             "the document is not valid client metadata: redirect_uris: plain http is allowed only for loopback hosts."),
            ("/bad-scope.json", {"scope": "admin"},
             "the document is not valid client metadata: scope: not in the realm's registration allowlist: admin."),
        ]
        for path, changes, reason in cases:
            doc_url = docs.url(path)
            docs.serve_json(path, good_document(doc_url, **changes))
            assert page_refusal(authorize(http, base, doc_url, redirect_uri=CALLBACK, scope="openid", challenge=pkce())) == reason, path
            token_refusal(http, base, doc_url)
        # Not JSON, not an object, a 404.
        docs.routes["/html.json"] = Route(b"<html></html>", headers={"Content-Type": "text/html"})
        assert page_refusal(authorize(http, base, docs.url("/html.json"))) == \
            "the client metadata document could not be fetched (response is not JSON)"
        docs.routes["/list.json"] = Route(b"[1]")
        assert page_refusal(authorize(http, base, docs.url("/list.json"))) == \
            "the client metadata document could not be fetched (response is not a JSON object)"
        assert page_refusal(authorize(http, base, docs.url("/missing.json"))) == \
            "the client metadata document could not be fetched (unexpected status (404))"


def test_the_realms_registration_policy_binds_documents_too(env: tuple[InProcessServer, DocServer]) -> None:
    """An operator's registration policy holds for clients that come as metadata documents as for
    /register: redirect hosts outside the allowed list are refused, and no document client is created
    past `max_clients` (a known one keeps working)."""
    server, docs = env
    base = server.realm_url("alpha")
    known = docs.serve_json("/known.json", good_document(docs.url("/known.json")))
    with server.client() as http:
        assert authorize(http, base, known, redirect_uri=CALLBACK, scope="openid", challenge=pkce()).status_code == 200
        realm_settings(server.services, "alpha", protection={"policy": {"allowed_redirect_hosts": ["app.example"]}})
        assert page_refusal(authorize(http, base, known, redirect_uri=CALLBACK, scope="openid", challenge=pkce())) \
            .startswith("the document is not valid client metadata: redirect_uris: ")
        token_refusal(http, base, known)
        dynamic = server.services.storage.clients.count("alpha", dynamic=True)
        realm_settings(server.services, "alpha", protection={"policy": {"max_clients": dynamic}})
        assert authorize(http, base, known, redirect_uri=CALLBACK, scope="openid", challenge=pkce()).status_code == 200
        new = docs.serve_json("/new.json", good_document(docs.url("/new.json")))
        assert page_refusal(authorize(http, base, new, redirect_uri=CALLBACK, scope="openid", challenge=pkce())) == \
            "the realm's registration policy max_clients limit is reached"
        token_refusal(http, base, new)
        assert server.services.storage.clients.get("alpha", new) is None
        realm_settings(server.services, "alpha", protection={"policy": {"max_clients": dynamic + 1}})
        assert authorize(http, base, new, redirect_uri=CALLBACK, scope="openid", challenge=pkce()).status_code == 200


def test_realm_switch_and_host_lists(env: tuple[InProcessServer, DocServer]) -> None:
    server, docs = env
    base = server.realm_url("alpha")
    url = docs.serve_json("/c.json", good_document(docs.url("/c.json")))
    with server.client() as http:
        realm_settings(server.services, "alpha", client_id_metadata_documents={"enabled": True, "denied_hosts": [".test"]})
        assert page_refusal(authorize(http, base, url)) == "documents from cimd.test are not accepted in this realm"
        token_refusal(http, base, url)
        realm_settings(server.services, "alpha", client_id_metadata_documents={
            "enabled": True, "allowed_hosts": ["notes.example"]})
        assert page_refusal(authorize(http, base, url)) == "documents from cimd.test are not accepted in this realm"
        realm_settings(server.services, "alpha", client_id_metadata_documents={"enabled": True, "allowed_hosts": ["cimd.test"]})
        assert authorize(http, base, url, redirect_uri=CALLBACK, scope="openid", challenge=pkce()).status_code == 200
        meta = http.get(f"{base}/.well-known/openid-configuration").json()
        assert meta["client_id_metadata_document_supported"] is True
        realm_settings(server.services, "alpha", client_id_metadata_documents={"enabled": False})
        assert page_refusal(authorize(http, base, url)) == "this realm does not accept client metadata documents"
        token_refusal(http, base, url)  # the stored record is not usable once the realm turns it off
        assert "client_id_metadata_document_supported" not in http.get(f"{base}/.well-known/openid-configuration").json()
    assert docs.hits == ["/c.json"]  # fetched once: the refusals by host came before any fetch


def test_document_changes_update_the_record_and_cache_headers_bound_the_refetch(
        env: tuple[InProcessServer, DocServer]) -> None:
    server, docs = env
    base = server.realm_url("alpha")
    settings: Settings = server.app.state.settings
    assert settings.unsafe_test_only_fetch_ca_file is not None
    tls = ssl.create_default_context(cafile=str(settings.unsafe_test_only_fetch_ca_file))
    now = [1000.0]
    server.services.client_documents = document_fetcher(
        tls=tls, unsafe_test_resolve=settings.unsafe_test_only_fetch_resolve, clock=lambda: now[0])
    url = docs.url("/changing.json")
    docs.serve_json("/changing.json", good_document(url), **{"Cache-Control": "no-store"})
    with server.client() as http:
        assert authorize(http, base, url, redirect_uri=CALLBACK, scope="openid", challenge=pkce()).status_code == 200
        docs.serve_json("/changing.json", good_document(url, client_name="Renamed"), **{"Cache-Control": "max-age=7200"})
        now[0] += 59
        assert authorize(http, base, url, redirect_uri=CALLBACK, scope="openid", challenge=pkce()).status_code == 200
        assert len(docs.hits) == 1  # no-store still caches for the floor (60 s): no refetch per request
        now[0] += 2
        assert authorize(http, base, url, redirect_uri=CALLBACK, scope="openid", challenge=pkce()).status_code == 200
        assert len(docs.hits) == 2
        stored = server.services.storage.clients.get("alpha", url)
        assert stored is not None and stored.name == "Renamed" and stored.dynamic
        now[0] += 7100
        assert authorize(http, base, url, redirect_uri=CALLBACK, scope="openid", challenge=pkce()).status_code == 200
        assert len(docs.hits) == 2  # max-age=7200 honoured
        now[0] += 101
        docs.serve_json("/changing.json", good_document(url, redirect_uris=None))
        assert page_refusal(authorize(http, base, url)) == "the document has no redirect_uris"
        token_refusal(http, base, url)  # the stored record follows its document: no longer usable


def test_oversize_slow_and_redirected_documents(env: tuple[InProcessServer, DocServer]) -> None:
    server, docs = env
    base = server.realm_url("alpha")
    big_url = docs.url("/big.json")
    docs.serve_json("/big.json", good_document(big_url, client_uri="https://x.example/" + "a" * 6000))
    slow_url = docs.url("/slow.json")
    docs.routes["/slow.json"] = Route(json.dumps(good_document(slow_url)).encode(), delay=3.0)
    with counting_listener() as target, server.client() as http:
        docs.routes["/moved.json"] = Route(b"", status=302, headers={"Location": f"https://127.0.0.1:{target.port}/c.json"})
        assert page_refusal(authorize(http, base, big_url)) == \
            "the client metadata document could not be fetched (response too large)"
        started = time.monotonic()
        assert page_refusal(authorize(http, base, slow_url)) == \
            "the client metadata document could not be fetched (timed out)"
        assert time.monotonic() - started < 2.9
        assert page_refusal(authorize(http, base, docs.url("/moved.json"))) == \
            "the client metadata document could not be fetched (redirect not followed (302))"
        # A failure is remembered briefly: asking again does not fetch again.
        hits = len(docs.hits)
        token_refusal(http, base, slow_url)
        assert len(docs.hits) == hits
    assert target.count == 0


def ssrf_targets(port: int, port6: int) -> list[str]:
    return [f"https://127.0.0.1:{port}/c.json", f"https://localhost:{port}/c.json",
            f"https://2130706433:{port}/c.json", f"https://0x7f000001:{port}/c.json", f"https://127.1:{port}/c.json",
            f"https://[::ffff:127.0.0.1]:{port}/c.json", f"https://[::1]:{port6}/c.json",
            f"https://[fe80::1]:{port}/c.json", "https://169.254.169.254/latest/meta-data/",
            "https://10.0.0.1/c.json", "https://192.168.1.1/c.json", "https://[fd00::1]/c.json",
            f"https://cimd.test.evil.example:{port}/c.json"]


def test_ssrf_client_documents_and_jwks_uri_make_no_connection(env: tuple[InProcessServer, DocServer]) -> None:
    server, _ = env
    base = server.realm_url("alpha")
    with counting_listener() as v4, counting_listener("::1") as v6, server.client() as http:
        for i, url in enumerate(ssrf_targets(v4.port, v6.port)):
            reason = page_refusal(authorize(http, base, url))
            assert reason.startswith("the client metadata document could not be fetched ("), (url, reason)
            token_refusal(http, base, url)
            # The same URL as a private_key_jwt client's jwks_uri (set by an administrator).
            cid = f"ssrf-{i}"
            create_client(server.services, "alpha", cid, auth_method="private_key_jwt", keys={"jwks_uri": url})
            signer = Signer()
            now = int(time.time())
            value = signer.sign({"iss": cid, "sub": cid, "aud": base, "exp": now + 60, "jti": uuid.uuid4().hex})
            r = http.post(f"{base}/access_token", data={"grant_type": "client_credentials", "client_assertion": value,
                                                        "client_assertion_type": ASSERTION_TYPE})
            assert_oauth_error(r, 401, "invalid_client")
    assert v4.count == 0 and v6.count == 0


def test_jwks_uri_keys_are_fetched_cached_and_refetched_for_a_new_kid(env: tuple[InProcessServer, DocServer]) -> None:
    server, docs = env
    base = server.realm_url("alpha")
    first, second = Signer(kid="k1"), Signer(kid="k2")
    url = docs.serve_json("/jwks.json", first.jwks)
    create_client(server.services, "alpha", "remote-keys", auth_method="private_key_jwt", keys={"jwks_uri": url})

    def token(signer: Signer) -> httpx.Response:
        now = int(time.time())
        value = signer.sign({"iss": "remote-keys", "sub": "remote-keys", "aud": base, "exp": now + 60,
                             "jti": uuid.uuid4().hex})
        with server.client() as http:
            return http.post(f"{base}/access_token", data={"grant_type": "client_credentials", "client_assertion": value,
                                                           "client_assertion_type": ASSERTION_TYPE})

    assert token(first).status_code == 200
    assert token(first).status_code == 200
    assert docs.hits == ["/jwks.json"]  # cached
    docs.serve_json("/jwks.json", {"keys": [*first.jwks["keys"], *second.jwks["keys"]]})  # the client rotates
    assert token(second).status_code == 200  # an unknown kid: fetched once more
    assert docs.hits == ["/jwks.json", "/jwks.json"]
    stranger = Signer(kid="k3")
    assert_oauth_error(token(stranger), 401, "invalid_client")
    assert_oauth_error(token(stranger), 401, "invalid_client")
    assert len(docs.hits) == 2  # refetched at most once per interval (10 s), whatever kid is named


def test_test_only_fetch_settings_cannot_name_real_hosts(tmp_path: Path) -> None:
    for mapping in ({"cimd.example": "127.0.0.1"}, {"cimd.test": "10.0.0.1"}, {"test": "127.0.0.1"},
                    {"cimd.test": "93.184.216.34"}):
        with pytest.raises(ValueError):
            Settings(data_dir=tmp_path, unsafe_test_only_fetch_resolve=mapping)
    # Without the setting, a .test name does not resolve: refused before any connection.
    with make_storage("sqlite", tmp_path) as storage, in_process_server(storage, tmp_path) as server:
        demo_secrets(server.services)
        enable_code_flow(server.services)
        realm_settings(server.services, "alpha", client_id_metadata_documents={"enabled": True})
        with server.client() as http:
            reason = page_refusal(authorize(http, server.realm_url("alpha"), "https://cimd.test/c.json"))
    assert reason == "the client metadata document could not be fetched (host does not resolve)"
