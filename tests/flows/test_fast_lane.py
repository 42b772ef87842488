"""The hot endpoints are dispatched by the fast lane: same paths, same answers, same error shapes as
the route table, over a real server."""

from __future__ import annotations

import pytest

from credo.http.fastlane import match
from tests.support import Server

BODY = {"grant_type": "client_credentials", "scope": "data-read"}


def _error(r: object, status: int, error: str) -> None:
    assert r.status_code == status, r.text  # type: ignore[attr-defined]
    assert r.json()["error"] == error  # type: ignore[attr-defined]
    assert r.headers["cache-control"] == "no-store"  # type: ignore[attr-defined]
    assert r.headers["content-type"] == "application/json"  # type: ignore[attr-defined]


@pytest.mark.parametrize("path, realm", [
    ("/am/oauth2/realms/root/realms/alpha/access_token", "alpha"),
    ("/am/oauth2/realms/root/realms/alpha/introspect", "alpha"),
    ("/am/oauth2/realms/root/access_token", None),
    ("/am/oauth2/introspect", None),
    ("/am/oauth2/realms/root/realms/alpha/register", "alpha"),
])
def test_match_finds_the_hot_endpoints(path: str, realm: str | None) -> None:
    hit = match(path)
    assert hit is not None and hit[1] == ({"realm": realm} if realm else {})


@pytest.mark.parametrize("path", [
    "/am/oauth2/realms/root/realms/alpha/token/revoke", "/am/oauth2/realms/root/realms//access_token",
    "/am/oauth2/realms/root/realms/a/b/access_token", "/access_token", "/am/oauth2/realms/access_token",
    "/am/oauth2/realms/root/realms/alpha/access_token/", "/x/am/oauth2/access_token",
    "/am/oauth2/realms/root/realms/alpha/aiagent/register", "/am/oauth2/aiagent/register",
    "/am/oauth2/realms/root/realms/alpha/register/some-client",
])
def test_match_leaves_everything_else_to_the_router(path: str) -> None:
    assert match(path) is None


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
        r = http.get(f"{base}/access_token")  # other methods still go through the router
        assert r.status_code == 405


def test_escaped_bodies_take_the_general_parser(sqlite_server: Server, sqlite_demo: dict[str, str]) -> None:
    base = sqlite_server.realm_url("alpha")
    secret = sqlite_demo["bench-client"]
    body = f"grant_type=client%5Fcredentials&client_id=bench-client&client_secret={secret}&scope=data-read+data-write"
    with sqlite_server.client() as http:
        r = http.post(f"{base}/access_token", content=body.encode(),
                      headers={"content-type": "application/x-www-form-urlencoded"})
        assert r.status_code == 200, r.text
        assert r.json()["scope"] == "data-read data-write"
