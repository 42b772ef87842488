"""Registration of browser clients (RFC 7591 / RFC 7592, OpenID Connect registration): the authorization
code grant when the realm enables it, `application_type` web or native and the redirect URIs each allows
(RFC 8252 §7.1 private-use schemes for native apps), `post_logout_redirect_uris`, public clients limited
to the code flow and refresh, and the administrator-only fields a client cannot set."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from credo.domain.settings import GRANT_AUTHORIZATION_CODE, GRANT_REFRESH_TOKEN
from tests.factories import assert_oauth_error, demo_secrets, realm_settings, register
from tests.support import InProcessServer, in_process_server, make_storage

CALLBACK = "https://app.example.com/callback"
WEB: dict[str, Any] = {"client_name": "Browser app", "grant_types": [GRANT_AUTHORIZATION_CODE],
                       "redirect_uris": [CALLBACK], "token_endpoint_auth_method": "client_secret_basic"}
PUBLIC: dict[str, Any] = {**WEB, "grant_types": [GRANT_AUTHORIZATION_CODE, GRANT_REFRESH_TOKEN],
                          "response_types": ["code"], "token_endpoint_auth_method": "none"}
NATIVE: dict[str, Any] = {**PUBLIC, "application_type": "native", "redirect_uris": ["com.example.app:/callback"]}
# The SecureAuth guide's "Register Client" body (its `redirect_url` member is not RFC 7591 metadata: sent as
# `redirect_uris`, which the authorization code grant requires).
SECUREAUTH_SAMPLE: dict[str, Any] = {"client_name": "Sample web client", "grant_types": ["authorization_code"],
                                     "response_types": ["code"], "redirect_uris": ["https://example.com/callback"]}


@pytest.fixture
def srv(tmp_path: Path) -> Iterator[InProcessServer]:
    """Credo with the demo realms (which enable the authorization code grant), except `bravo` without it."""
    with make_storage("memory", tmp_path) as storage, in_process_server(storage, tmp_path) as server:
        demo_secrets(server.services)
        realm = server.services.storage.realms.get("bravo")
        assert realm is not None and GRANT_AUTHORIZATION_CODE in realm.settings.grant_types  # the demo enables it
        realm_settings(server.services, "bravo",
                       grant_types=[g for g in realm.settings.grant_types if g != GRANT_AUTHORIZATION_CODE])
        yield server


def _post(srv: InProcessServer, body: dict[str, Any], path: str = "/register") -> httpx.Response:
    with srv.client() as http:
        return http.post(f"{srv.realm_url()}{path}", json=body)


def _register(srv: InProcessServer, body: dict[str, Any]) -> dict[str, Any]:
    with srv.client() as http:
        return register(http, srv.realm_url(), body)


def _manage(srv: InProcessServer, method: str, reg: dict[str, Any], body: dict[str, Any] | None = None) -> dict[str, Any]:
    """RFC 7592 GET or PUT of `reg` with its registration access token; returns the 200 body."""
    with srv.client() as http:
        r = http.request(method, reg["registration_client_uri"], json=body,
                         headers={"Authorization": f"Bearer {reg['registration_access_token']}"})
    assert r.status_code == 200, r.text
    return dict(r.json())


def _refused(r: httpx.Response, error: str, field: str, *words: str) -> None:
    assert_oauth_error(r, 400, error)
    description = r.json()["error_description"]
    assert description.startswith(f"{field}:"), description
    assert all(w in description for w in words), description


# --- application_type and the redirect URIs it allows ---------------------------------------------------


@pytest.mark.parametrize("app_type", [None, "web", "native"])
def test_plain_http_off_loopback_is_refused(srv: InProcessServer, app_type: str | None) -> None:
    body = {**WEB, "redirect_uris": ["http://app.example.com/callback"]}
    if app_type is not None:
        body["application_type"] = app_type
    _refused(_post(srv, body), "invalid_redirect_uri", "redirect_uris", "loopback")


@pytest.mark.parametrize("app_type", ["web", "native"])
@pytest.mark.parametrize("uri", ["http://127.0.0.1:8400/callback", "http://[::1]:8400/callback",
                                 "http://localhost/callback", CALLBACK])
def test_loopback_http_and_https_are_allowed(srv: InProcessServer, app_type: str, uri: str) -> None:
    reg = _register(srv, {**WEB, "application_type": app_type, "redirect_uris": [uri]})
    assert (reg["redirect_uris"], reg["application_type"]) == ([uri], app_type)


def test_application_type_defaults_to_web(srv: InProcessServer) -> None:
    reg = _register(srv, WEB)
    assert reg["application_type"] == "web"
    stored = srv.services.storage.clients.get("alpha", reg["client_id"])
    assert stored is not None and stored.application_type == "web"


@pytest.mark.parametrize("uri", ["com.example.app:/callback", "com.example.app:/", "io.github.someone.app:/cb?x=1"])
def test_private_use_scheme_for_native_apps_only(srv: InProcessServer, uri: str) -> None:
    reg = _register(srv, {**NATIVE, "redirect_uris": [uri]})
    assert (reg["redirect_uris"], reg["application_type"]) == ([uri], "native")
    stored = srv.services.storage.clients.get("alpha", reg["client_id"])
    assert stored is not None and stored.application_type == "native"
    for app_type in (None, "web"):
        body = {**NATIVE, "redirect_uris": [uri], "application_type": app_type}
        _refused(_post(srv, {k: v for k, v in body.items() if v is not None}),
                 "invalid_redirect_uri", "redirect_uris", "native")


@pytest.mark.parametrize("uri", ["com.example.app://callback", "com.example.app:callback", "com.example.app:",
                                 "myapp:/callback", "com.example.app:/cb#frag", "com.example.app:/c b",
                                 "javascript.example:/x\\y", "http://app.example.com/callback",
                                 "javascript:alert(1)", "ftp://example.com/cb", "example.com"])
def test_native_redirect_uris_still_have_rules(srv: InProcessServer, uri: str) -> None:
    _refused(_post(srv, {**NATIVE, "redirect_uris": [uri]}), "invalid_redirect_uri", "redirect_uris")


@pytest.mark.parametrize("value", ["desktop", "WEB", "", 1, True, ["web"], {"type": "web"}])
def test_unknown_application_type_is_refused(srv: InProcessServer, value: Any) -> None:
    _refused(_post(srv, {**WEB, "application_type": value}), "invalid_client_metadata", "application_type", "native")


# --- the authorization code grant and public clients ----------------------------------------------------


def test_code_grant_defaults_to_the_code_response_type(srv: InProcessServer) -> None:
    reg = _register(srv, WEB)
    assert (reg["grant_types"], reg["response_types"]) == ([GRANT_AUTHORIZATION_CODE], ["code"])
    _refused(_post(srv, {**WEB, "response_types": ["token"]}), "invalid_client_metadata", "response_types", "code")
    _refused(_post(srv, {**WEB, "redirect_uris": []}), "invalid_redirect_uri", "redirect_uris", "required")


@pytest.mark.parametrize("path", ["/register", "/aiagent/register"])
@pytest.mark.parametrize("body", [PUBLIC, NATIVE, {**PUBLIC, "grant_types": [GRANT_AUTHORIZATION_CODE]}],
                         ids=["web-refresh", "native", "code-only"])
def test_public_client_registers_for_the_code_flow_without_a_secret(srv: InProcessServer, path: str,
                                                                    body: dict[str, Any]) -> None:
    r = _post(srv, body, path)
    assert r.status_code == 201, r.text
    reg = r.json()
    assert reg["token_endpoint_auth_method"] == "none" and reg["grant_types"] == body["grant_types"]
    assert "client_secret" not in reg and "client_secret_expires_at" not in reg, reg
    stored = srv.services.storage.clients.get("alpha", reg["client_id"])
    assert stored is not None and stored.is_public and stored.secret_hash is None
    read = _manage(srv, "GET", reg)
    assert "client_secret" not in read and read["grant_types"] == body["grant_types"]


@pytest.mark.parametrize("grants, refused", [(["client_credentials"], "client_credentials"),
                                             ([GRANT_AUTHORIZATION_CODE, "password"], "password"),
                                             ([GRANT_AUTHORIZATION_CODE, "urn:ietf:params:oauth:grant-type:token-exchange"],
                                              "token-exchange")])
def test_public_client_is_refused_other_grants(srv: InProcessServer, grants: list[str], refused: str) -> None:
    body = {k: v for k, v in PUBLIC.items() if k != "response_types"}
    r = _post(srv, {**body, "grant_types": grants})
    _refused(r, "invalid_client_metadata", "token_endpoint_auth_method", "(a public client)", refused)


def test_a_confidential_client_becoming_public_on_update_loses_its_secret(srv: InProcessServer) -> None:
    reg = _register(srv, WEB)
    assert reg["client_secret"]
    updated = _manage(srv, "PUT", reg, {**PUBLIC, "client_id": reg["client_id"]})
    assert updated["token_endpoint_auth_method"] == "none" and "client_secret_expires_at" not in updated
    stored = srv.services.storage.clients.get("alpha", reg["client_id"])
    assert stored is not None and stored.secret_hash is None


# --- post_logout_redirect_uris --------------------------------------------------------------------------


@pytest.mark.parametrize("value, words", [
    (["http://app.example.com/signed-out"], ("loopback",)),
    (["https://app.example.com/signed-out#x"], ("fragment",)),
    (["https://evil@app.example.com/"], ("user information",)),
    (["javascript:alert(1)"], ("javascript",)),
    (["/signed-out"], ("absolute",)),
    (["com.example.app:/signed-out"], ("native",)),
    ("https://app.example.com/signed-out", ("array",)),
    ([""], ("array",)),
    ([7], ("array",)),
])
def test_bad_post_logout_redirect_uris(srv: InProcessServer, value: Any, words: tuple[str, ...]) -> None:
    r = _post(srv, {**WEB, "post_logout_redirect_uris": value})
    _refused(r, "invalid_client_metadata", "post_logout_redirect_uris", *words)


def test_post_logout_redirect_uris_round_trip_through_rfc7592(srv: InProcessServer) -> None:
    first = ["https://app.example.com/signed-out", "http://127.0.0.1:8400/bye"]
    reg = _register(srv, {**WEB, "post_logout_redirect_uris": first})
    assert reg["post_logout_redirect_uris"] == first
    read = _manage(srv, "GET", reg)
    assert read["post_logout_redirect_uris"] == first and read["application_type"] == "web"

    changed = {**NATIVE, "client_id": reg["client_id"], "post_logout_redirect_uris": ["com.example.app:/bye"]}
    updated = _manage(srv, "PUT", read, changed)
    assert updated["post_logout_redirect_uris"] == ["com.example.app:/bye"]
    assert (updated["application_type"], updated["redirect_uris"]) == ("native", ["com.example.app:/callback"])
    again = _manage(srv, "GET", updated)
    assert (again["application_type"], again["post_logout_redirect_uris"]) == ("native", ["com.example.app:/bye"])
    stored = srv.services.storage.clients.get("alpha", reg["client_id"])
    assert stored is not None and stored.post_logout_redirect_uris == ("com.example.app:/bye",)

    cleared = _manage(srv, "PUT", again, {**WEB, "client_id": reg["client_id"]})  # PUT replaces: left out is removed
    assert "post_logout_redirect_uris" not in cleared and cleared["application_type"] == "web"
    stored = srv.services.storage.clients.get("alpha", reg["client_id"])
    assert stored is not None and (stored.post_logout_redirect_uris, stored.application_type) == ((), "web")


def test_update_checks_post_logout_redirect_uris(srv: InProcessServer) -> None:
    reg = _register(srv, WEB)
    with srv.client() as http:
        r = http.put(reg["registration_client_uri"], headers={"Authorization": f"Bearer {reg['registration_access_token']}"},
                     json={**WEB, "client_id": reg["client_id"], "post_logout_redirect_uris": ["http://evil.example/"]})
    _refused(r, "invalid_client_metadata", "post_logout_redirect_uris", "loopback")


def test_redirect_host_policy_covers_logout_uris_and_private_use_schemes(srv: InProcessServer) -> None:
    realm_settings(srv.services, "alpha", protection={"policy": {"allowed_redirect_hosts": ["app.example.com"]}})
    assert _post(srv, {**WEB, "post_logout_redirect_uris": ["https://app.example.com/bye"]}).status_code == 201
    r = _post(srv, {**WEB, "post_logout_redirect_uris": ["https://elsewhere.example/bye"]})
    _refused(r, "invalid_client_metadata", "post_logout_redirect_uris", "elsewhere.example", "allowed_redirect_hosts")
    _refused(_post(srv, NATIVE), "invalid_client_metadata", "redirect_uris", "com.example.app:")
    realm_settings(srv.services, "alpha", protection={"policy": {"allowed_redirect_hosts": ["com.example.app:"]}})
    assert _post(srv, NATIVE).status_code == 201


# --- fields only an administrator sets ------------------------------------------------------------------


def test_resources_and_skip_consent_are_ignored(srv: InProcessServer) -> None:
    admin_only = {"resources": ["https://api.example.com/"], "skip_consent": True}
    reg = _register(srv, {**WEB, **admin_only})
    assert not {"resources", "skip_consent"} & set(reg), reg
    stored = srv.services.storage.clients.get("alpha", reg["client_id"])
    assert stored is not None and (stored.resources, stored.skip_consent) == ((), False)

    # What an administrator set stays as it is when the client replaces its registration.
    set_by_admin = replace(stored, resources=("https://mcp.example.com/",), skip_consent=True)
    assert srv.services.storage.clients.update(set_by_admin)
    updated = _manage(srv, "PUT", reg, {**WEB, "client_id": reg["client_id"], "resources": [], "skip_consent": False})
    assert not {"resources", "skip_consent"} & set(updated), updated
    stored = srv.services.storage.clients.get("alpha", reg["client_id"])
    assert stored is not None and (stored.resources, stored.skip_consent) == (("https://mcp.example.com/",), True)


# --- the SecureAuth guide's sample, and discovery -------------------------------------------------------


def test_secureauth_sample_registers_and_is_managed(srv: InProcessServer) -> None:
    reg = _register(srv, SECUREAUTH_SAMPLE)
    assert isinstance(reg["client_id"], str) and isinstance(reg["client_secret"], str) and reg["client_secret"]
    assert isinstance(reg["scopes"], list)
    assert isinstance(reg["registration_access_token"], str) and reg["registration_access_token"]
    assert reg["registration_access_token_expires_in"] == 86400 * 30
    assert (reg["grant_types"], reg["response_types"]) == (["authorization_code"], ["code"])
    assert reg["redirect_uris"] == ["https://example.com/callback"] and reg["application_type"] == "web"

    read = _manage(srv, "GET", reg)  # the token rotates; the secret is never shown again
    assert read["client_id"] == reg["client_id"] and "client_secret" not in read
    assert read["registration_access_token"] != reg["registration_access_token"]
    with srv.client() as http:
        stale = http.get(reg["registration_client_uri"], headers={"Authorization": f"Bearer {reg['registration_access_token']}"})
    assert_oauth_error(stale, 401, "invalid_token")

    as_written = {k: v for k, v in SECUREAUTH_SAMPLE.items() if k != "redirect_uris"}
    _refused(_post(srv, {**as_written, "redirect_url": ["https://example.com/callback"]}),
             "invalid_redirect_uri", "redirect_uris", "required")


def test_the_sample_is_refused_where_the_code_grant_is_off(srv: InProcessServer) -> None:
    with srv.client() as http:
        r = http.post(f"{srv.realm_url('bravo')}/register", json=SECUREAUTH_SAMPLE)
    _refused(r, "invalid_client_metadata", "grant_types", "authorization_code")


def test_discovery_lists_the_realm_grants(srv: InProcessServer) -> None:
    with srv.client() as http:
        alpha = http.get(f"{srv.realm_url()}/.well-known/openid-configuration").json()
        bravo = http.get(f"{srv.realm_url('bravo')}/.well-known/openid-configuration").json()
    assert GRANT_AUTHORIZATION_CODE in alpha["grant_types_supported"]
    assert GRANT_AUTHORIZATION_CODE not in bravo["grant_types_supported"]
