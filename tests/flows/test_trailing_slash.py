"""A public endpoint path with one trailing slash is the same endpoint: same status, body and errors,
and never a redirect (a client that does not follow redirects for POST would fail). Over real HTTP;
the client below does not follow redirects."""

from __future__ import annotations

from typing import Any

import pytest

from credo.http.dispatch import without_trailing_slash
from tests.factories import SEED_BODY
from tests.support import Server

PREFIXES = ("/am/oauth2/realms/root/realms/alpha", "/am/oauth2/realms/root", "/am/oauth2")
VOLATILE = ("client_id", "client_secret", "registration_access_token", "registration_client_uri",
            "client_id_issued_at", "aiAgentIdentityUid")


def _shape(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in VOLATILE}


@pytest.mark.parametrize("path", ["/register", "/aiagent/register"])
def test_registration_with_a_trailing_slash_registers(sqlite_server: Server, sqlite_demo: dict[str, str],
                                                       path: str) -> None:
    base = sqlite_server.realm_url("alpha")
    with sqlite_server.client() as http:
        plain = http.post(f"{base}{path}", json=SEED_BODY)
        slashed = http.post(f"{base}{path}/", json=SEED_BODY)
    assert plain.status_code == slashed.status_code == 201, slashed.text
    assert slashed.headers["cache-control"] == "no-store"
    assert _shape(slashed.json()) == _shape(plain.json())
    cid = slashed.json()["client_id"]
    assert slashed.json()["registration_client_uri"] == f"{base}/register/{cid}"
    assert sqlite_server.services.storage.clients.get("alpha", cid) is not None


@pytest.mark.parametrize("path", ["/register/", "/aiagent/register/"])
@pytest.mark.parametrize("body, headers, status, error", [
    ({**SEED_BODY, "grant_types": ["magic"]}, None, 400, "invalid_client_metadata"),
    ({**SEED_BODY, "redirect_uris": ["not a uri"]}, None, 400, "invalid_redirect_uri"),
    (b"grant_types=client_credentials", {"content-type": "application/x-www-form-urlencoded"}, 415,
     "invalid_request"),
    (b"{not json", {"content-type": "application/json"}, 400, "invalid_request"),
])
def test_registration_errors_with_a_trailing_slash_are_the_same(
        sqlite_server: Server, sqlite_demo: dict[str, str], path: str, body: Any,
        headers: dict[str, str] | None, status: int, error: str) -> None:
    base = sqlite_server.realm_url("alpha")
    kwargs: dict[str, Any] = {"content": body, "headers": headers} if isinstance(body, bytes) else {"json": body}
    with sqlite_server.client() as http:
        plain = http.post(f"{base}{path.rstrip('/')}", **kwargs)
        slashed = http.post(f"{base}{path}", **kwargs)
    assert slashed.status_code == plain.status_code == status, slashed.text
    assert slashed.json()["error"] == error
    assert slashed.json() == plain.json()
    assert slashed.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("prefix", PREFIXES)
def test_token_introspect_revoke_tokeninfo_with_a_trailing_slash(sqlite_server: Server,
                                                                sqlite_demo: dict[str, str], prefix: str) -> None:
    realm = "alpha" if prefix.endswith("alpha") else "root"
    from credo.management.clients import create_client

    client_id = f"slash-{realm}-{len(prefix)}"
    _, secret = create_client(sqlite_server.services, realm, client_id, scopes=("data-read",))
    auth = {"client_id": client_id, "client_secret": secret}
    base = sqlite_server.base_url + prefix
    with sqlite_server.client() as http:
        r = http.post(f"{base}/access_token/", data={"grant_type": "client_credentials", "scope": "data-read", **auth})
        assert r.status_code == 200, r.text
        token = r.json()["access_token"]
        info = http.post(f"{base}/introspect/", data={"token": token, **auth})
        assert info.status_code == 200 and info.json()["active"] is True
        assert http.get(f"{base}/tokeninfo/", headers={"authorization": f"Bearer {token}"}).status_code == 200
        revoked = http.post(f"{base}/token/revoke/", data={"token": token, **auth})
        assert revoked.status_code == 200, revoked.text
        assert http.post(f"{base}/introspect/", data={"token": token, **auth}).json() == {"active": False}
        bad = http.post(f"{base}/access_token/", data={"grant_type": "magic", **auth})
        assert bad.status_code == 400 and bad.json()["error"] == "unsupported_grant_type"
        wrong = http.post(f"{base}/access_token/", json={"grant_type": "client_credentials", **auth})
        assert wrong.status_code == 415 and wrong.json()["error"] == "invalid_request"


def test_rfc7592_and_discovery_with_a_trailing_slash(sqlite_server: Server, sqlite_demo: dict[str, str]) -> None:
    base = sqlite_server.realm_url("alpha")
    with sqlite_server.client() as http:
        reg = http.post(f"{base}/register/", json=SEED_BODY).json()
        cid = reg["client_id"]
        read = http.get(f"{base}/register/{cid}/", headers={"authorization": f"Bearer {reg['registration_access_token']}"})
        assert read.status_code == 200 and read.json()["client_id"] == cid
        query = http.get(f"{base}/register/", params={"client_id": cid},
                         headers={"authorization": f"Bearer {read.json()['registration_access_token']}"})
        assert query.status_code == 200 and query.json()["client_id"] == cid
        anonymous = http.get(f"{base}/register/{cid}/")
        assert anonymous.status_code == 401 and anonymous.json()["error"] == "invalid_token"
        for path in ("/.well-known/openid-configuration/", "/.well-known/oauth-authorization-server/",
                     "/connect/jwk_uri/"):
            assert http.get(f"{base}{path}").status_code == 200, path
        inserted = http.get(f"{sqlite_server.base_url}/.well-known/oauth-authorization-server"
                            "/am/oauth2/realms/root/realms/alpha/")
        assert inserted.status_code == 200 and inserted.json()["issuer"] == base


@pytest.mark.parametrize("path, expected", [
    ("/am/oauth2/register/", "/am/oauth2/register"),
    ("/am/oauth2/realms/root/realms/alpha/access_token/", "/am/oauth2/realms/root/realms/alpha/access_token"),
    ("/.well-known/openid-configuration/am/oauth2/", "/.well-known/openid-configuration/am/oauth2"),
    ("/am/oauth2/register", "/am/oauth2/register"),  # no slash: unchanged
    ("/am/oauth2/", "/am/oauth2/"),  # the prefix itself names no endpoint
    ("/.well-known/", "/.well-known/"),
    ("/admin/api/realms/", "/admin/api/realms/"),  # the admin paths keep the router's behaviour
    ("/", "/"),
])
def test_only_public_paths_lose_their_trailing_slash(path: str, expected: str) -> None:
    scope = {"type": "http", "path": path, "raw_path": path.encode()}
    out = without_trailing_slash(scope)
    assert out["path"] == expected and out["raw_path"] == expected.encode()
    assert scope["path"] == path  # the caller's scope is not changed


@pytest.mark.parametrize("method, path", [
    ("POST", "/am/oauth2/realms/root/realms/alpha/register//"),
    ("POST", "/am/oauth2/realms/root/realms/alpha/register///"),
    ("POST", "/am/oauth2/register//"),
    ("POST", "/am/oauth2/realms/root/realms/alpha/aiagent/register//"),
    ("POST", "/am/oauth2/realms/root/realms/alpha/access_token//"),
    ("POST", "/am/oauth2/realms/root/realms/alpha/introspect//"),
    ("GET", "/am/oauth2/realms/root/realms/alpha/register/some-client//"),
    ("GET", "/am/oauth2/realms/root/realms/alpha/.well-known/openid-configuration//"),
    ("GET", "/.well-known/oauth-authorization-server/am/oauth2//"),
])
def test_a_double_trailing_slash_is_an_unknown_path(sqlite_server: Server, sqlite_demo: dict[str, str],
                                                    method: str, path: str) -> None:
    """Not the endpoint, and not a redirect to it: 404 exactly as for a path that names nothing."""
    with sqlite_server.client() as http:
        unknown = http.request(method, "/am/oauth2/realms/root/realms/alpha/no-such-endpoint", json=SEED_BODY)
        r = http.request(method, path, json=SEED_BODY)
    assert unknown.status_code == 404
    assert r.status_code == 404, r.text
    assert "location" not in r.headers
    assert r.json() == unknown.json() == {"error": "not_found", "error_description": "Not Found"}
    assert r.headers["content-type"] == unknown.headers["content-type"]
    assert r.headers.get("cache-control") == unknown.headers.get("cache-control")
    assert sqlite_server.services.storage.clients.count("alpha", dynamic=True) == 0
