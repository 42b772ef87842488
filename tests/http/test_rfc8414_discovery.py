"""RFC 8414 §3.1: metadata at `/.well-known/oauth-authorization-server` + the issuer's path, whose
`issuer` equals the issuer the client derived the URL from (RFC 8414 §3.3)."""

from __future__ import annotations

import pytest

from tests.support import Server


@pytest.mark.parametrize("well_known", ["oauth-authorization-server", "openid-configuration"])
@pytest.mark.parametrize("realm", ["alpha", "bravo", "root"])
def test_path_inserted_metadata(sqlite_server: Server, sqlite_demo: dict[str, str], well_known: str,
                                realm: str) -> None:
    issuer = sqlite_server.realm_url(realm)
    path = issuer.removeprefix(sqlite_server.base_url)
    with sqlite_server.client() as http:
        r = http.get(f"/.well-known/{well_known}{path}")
        assert r.status_code == 200, r.text
        doc = r.json()
        assert doc["issuer"] == issuer
        assert doc["token_endpoint"] == f"{issuer}/access_token"
        assert doc["registration_endpoint"] == f"{issuer}/register"
        assert doc == http.get(f"{issuer}/.well-known/openid-configuration").json()


def test_unknown_realm_and_method(sqlite_server: Server, sqlite_demo: dict[str, str]) -> None:
    with sqlite_server.client() as http:
        r = http.get("/.well-known/oauth-authorization-server/am/oauth2/realms/root/realms/nosuch")
        assert r.status_code == 404
        assert r.json() == {"error": "not_found", "error_description": "Realm 'nosuch' does not exist."}
        p = http.post("/.well-known/oauth-authorization-server/am/oauth2/realms/root/realms/alpha")
        assert p.status_code == 405 and set(p.headers["allow"].split(", ")) == {"GET", "HEAD"}
