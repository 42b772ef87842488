"""The public dispatcher: every public path resolves to its endpoint and path parameters as the former
route table did; over a real server, the same answers and error shapes on every prefix."""

from __future__ import annotations

import pytest

from credo.http.dispatch import resolve
from tests.support import Server

BODY = {"grant_type": "client_credentials", "scope": "data-read"}
A = "/am/oauth2/realms/root/realms/alpha"


def _error(r: object, status: int, error: str) -> None:
    assert r.status_code == status, r.text  # type: ignore[attr-defined]
    assert r.json()["error"] == error  # type: ignore[attr-defined]
    assert r.headers["cache-control"] == "no-store"  # type: ignore[attr-defined]
    assert r.headers["content-type"] == "application/json"  # type: ignore[attr-defined]


@pytest.mark.parametrize("path, endpoint, params", [
    (f"{A}/access_token", "access_token", {"realm": "alpha"}),
    (f"{A}/introspect", "introspect", {"realm": "alpha"}),
    ("/am/oauth2/realms/root/access_token", "access_token", {}),
    ("/am/oauth2/introspect", "introspect", {}),
    (f"{A}/register", "register", {"realm": "alpha"}),
    (f"{A}/register/some-client", "register/{client_id}", {"realm": "alpha", "client_id": "some-client"}),
    ("/am/oauth2/register/{client_id}", "register/{client_id}", {"client_id": "{client_id}"}),
    (f"{A}/aiagent/register", "aiagent/register", {"realm": "alpha"}),
    ("/am/oauth2/aiagent/register", "aiagent/register", {}),
    (f"{A}/token/revoke", "token/revoke", {"realm": "alpha"}),
    ("/am/oauth2/realms/root/tokeninfo", "tokeninfo", {}),
    (f"{A}/connect/jwk_uri", "connect/jwk_uri", {"realm": "alpha"}),
    (f"{A}/.well-known/openid-configuration", ".well-known/openid-configuration", {"realm": "alpha"}),
    ("/am/oauth2/.well-known/oauth-authorization-server", ".well-known/oauth-authorization-server", {}),
    ("/am/oauth2/openapi.json", "/am/oauth2/openapi.json", {}),
    ("/.well-known/oauth-authorization-server/am/oauth2", "/.well-known/oauth-authorization-server{issuer}", {}),
    ("/.well-known/openid-configuration/am/oauth2/realms/root", "/.well-known/openid-configuration{issuer}", {}),
    (f"/.well-known/openid-configuration{A}", "/.well-known/openid-configuration{issuer}", {"realm": "alpha"}),
])
def test_resolve_finds_every_endpoint(path: str, endpoint: str, params: dict[str, str]) -> None:
    assert resolve(path, "GET") == (endpoint, params)


@pytest.mark.parametrize("path", [
    "/am/oauth2/realms/root/realms//access_token", "/am/oauth2/realms/root/realms/a/b/access_token",
    "/access_token", "/am/oauth2/realms/access_token", f"{A}/access_token/", "/x/am/oauth2/access_token",
    f"{A}/register/a/b", f"{A}/register/", "/am/oauth2", "/am/oauth2/", "/am/oauth2/realms/root",
    "/am/oauth2//am/oauth2/openapi.json", "/am/oauth2/realms/root/openapi.json", f"{A}/openapi.json",
    "/.well-known/openid-configuration", "/.well-known/openid-configuration/",
    "/.well-known/oauth-authorization-server/am/oauth2/realms/root/realms/", "/.well-known/openid-configuration/am",
    f"/.well-known/openid-configuration{A}/x", "/.well-known/openid-configurationx/am/oauth2", "/admin/api/realms",
])
def test_resolve_finds_nothing_elsewhere(path: str) -> None:
    assert resolve(path, "GET") is None


def test_openapi_json_is_only_served_for_get_and_head() -> None:
    """For another method the path is the root realm's `openapi.json`, which names nothing: 404, not 405."""
    assert resolve("/am/oauth2/openapi.json", "HEAD") is not None
    assert resolve("/am/oauth2/openapi.json", "POST") is None


def test_token_on_every_prefix(sqlite_server: Server, sqlite_demo: dict[str, str]) -> None:
    data = {**BODY, "client_id": "bench-client", "client_secret": sqlite_demo["bench-client"]}
    with sqlite_server.client() as http:
        r = http.post(f"{sqlite_server.realm_url('alpha')}/access_token", data=data)
        assert r.status_code == 200 and r.json()["token_type"] == "Bearer"
        assert int(r.headers["content-length"]) == len(r.content)
        # bench-client lives in alpha: the root realm does not know it
        for root in ("/am/oauth2/realms/root", "/am/oauth2"):
            _error(http.post(f"{sqlite_server.base_url}{root}/access_token", data=data), 401, "invalid_client")


def test_errors_keep_their_shape(sqlite_server: Server, sqlite_demo: dict[str, str]) -> None:
    base = sqlite_server.realm_url("alpha")
    auth = {"client_id": "bench-client", "client_secret": sqlite_demo["bench-client"]}
    with sqlite_server.client() as http:
        _error(http.post(f"{base}/access_token", json={**BODY, **auth}), 415, "invalid_request")
        _error(http.post(f"{base}/access_token", content=b"a=1&a=2",
                         headers={"content-type": "application/x-www-form-urlencoded"}), 400, "invalid_request")
        _error(http.post(f"{base}/access_token", content=b"x=" + b"a" * 70_000,
                         headers={"content-type": "application/x-www-form-urlencoded"}), 413, "invalid_request")
        _error(http.post(f"{base}/access_token", data={**BODY, "client_id": "bench-client",
                                                       "client_secret": "wrong"}), 401, "invalid_client")
        _error(http.post(f"{base}/introspect", data=auth), 400, "invalid_request")
        _error(http.post(f"{sqlite_server.base_url}/am/oauth2/realms/root/realms/nowhere/access_token",
                         data={**BODY, **auth}), 404, "not_found")
        assert http.post(f"{base}/introspect", data={"token": "junk", **auth}).json() == {"active": False}
        r = http.get(f"{base}/access_token")
        assert r.status_code == 405 and r.headers["allow"] == "POST"
        _error(r, 405, "method_not_allowed")


def test_escaped_bodies_take_the_general_parser(sqlite_server: Server, sqlite_demo: dict[str, str]) -> None:
    base = sqlite_server.realm_url("alpha")
    secret = sqlite_demo["bench-client"]
    body = f"grant_type=client%5Fcredentials&client_id=bench-client&client_secret={secret}&scope=data-read+data-write"
    with sqlite_server.client() as http:
        r = http.post(f"{base}/access_token", content=body.encode(),
                      headers={"content-type": "application/x-www-form-urlencoded"})
        assert r.status_code == 200, r.text
        assert r.json()["scope"] == "data-read data-write"
