"""CORS for the endpoints a browser-based client fetches (discovery, keys, token, revocation, registration,
userinfo): any origin, no credentials; the pages and the other endpoints send no CORS header."""

from __future__ import annotations

import pytest

from tests.support import Server

ORIGIN = {"origin": "https://spa.example"}


@pytest.mark.parametrize("endpoint, methods", [
    ("access_token", "POST"), ("register", "POST, GET, HEAD, PUT, DELETE"), ("userinfo", "GET, HEAD, POST"),
    (".well-known/openid-configuration", "GET, HEAD"), ("register/some-client", "GET, HEAD, PUT, DELETE")])
def test_preflight(sqlite_server: Server, sqlite_demo: dict[str, str], endpoint: str, methods: str) -> None:
    with sqlite_server.client() as http:
        r = http.options(f"{sqlite_server.realm_url()}/{endpoint}", headers={
            **ORIGIN, "access-control-request-method": "POST", "access-control-request-headers": "content-type"})
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == "*" and r.headers["access-control-allow-methods"] == methods
    assert "authorization" in r.headers["access-control-allow-headers"]
    assert "access-control-allow-credentials" not in r.headers


def test_answers_carry_the_header_only_for_a_browser_fetch(sqlite_server: Server, sqlite_demo: dict[str, str]) -> None:
    base = sqlite_server.realm_url()
    with sqlite_server.client() as http:
        discovery = http.get(f"{base}/.well-known/openid-configuration", headers=ORIGIN)
        assert discovery.headers["access-control-allow-origin"] == "*"
        refused = http.post(f"{base}/access_token", data={"grant_type": "client_credentials"}, headers=ORIGIN)
        assert refused.status_code == 401 and refused.headers["access-control-allow-origin"] == "*"
        assert "www-authenticate" in refused.headers["access-control-expose-headers"]
        assert "access-control-allow-origin" not in http.get(f"{base}/.well-known/openid-configuration").headers
        # Pages are navigated to, not fetched; introspection is for resource servers.
        page = http.get(f"{base}/authorize", params={"client_id": "x"}, headers=ORIGIN)
        assert "access-control-allow-origin" not in page.headers
        assert http.options(f"{base}/introspect", headers=ORIGIN).status_code == 405
