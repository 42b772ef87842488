"""Foundation flow over real HTTP: client credentials → introspect → tokeninfo → revoke → introspect,
for stateful and stateless tokens, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from tests.support import Server


@pytest.mark.parametrize("client_id, cts", [("demo-client", "OAUTH2_STATEFUL_GRANT"),
                                             ("bench-client", "OAUTH2_STATELESS_GRANT")])
def test_cc_introspect_tokeninfo_revoke(server: Server, demo: dict[str, str], client_id: str, cts: str) -> None:
    base = server.realm_url("alpha")
    secret = demo[client_id]
    with server.client() as http:
        r = http.post(f"{base}/access_token", data={"grant_type": "client_credentials", "client_id": client_id,
                                                    "client_secret": secret, "scope": "data-read"})
        assert r.status_code == 200, r.text
        assert r.headers["cache-control"] == "no-store"
        body = r.json()
        assert body["scope"] == "data-read" and body["token_type"] == "Bearer"
        assert 3590 <= body["expires_in"] <= 3600
        token = body["access_token"]
        assert (token.count(".") == 2) == (cts == "OAUTH2_STATELESS_GRANT")

        auth = {"client_id": client_id, "client_secret": secret}
        info = http.post(f"{base}/introspect", data={"token": token, **auth}).json()
        assert info["active"] is True
        assert info["scope"] == "data-read"
        assert info["realm"] == "/alpha"
        assert info["client_id"] == info["sub"] == info["user_id"] == info["username"] == info["subname"] == client_id
        assert info["token_type"] == "Bearer"
        assert info["iss"] == base
        assert info["authGrantId"] and info["auditTrackingId"]
        assert 0 < info["expires_in"] <= 3600 and info["exp"] > info["iat"]

        ti = http.get(f"{base}/tokeninfo", params={"access_token": token}).json()
        assert ti["cts"] == cts
        assert ti["scope"] == ["data-read"] and ti["data-read"] == ""
        assert ti["tokenName"] == "access_token" and ti["grant_type"] == "client_credentials"
        assert ti["aud"] == client_id and ti["sub"] == client_id and ti["access_token"] == token
        assert ti["nbf"] <= ti["exp"]
        bearer = http.get(f"{base}/tokeninfo", headers={"Authorization": f"Bearer {token}"})
        assert bearer.status_code == 200 and bearer.json()["sub"] == client_id

        rv = http.post(f"{base}/token/revoke", data={"token": token, **auth})
        assert rv.status_code == 200
        assert http.post(f"{base}/introspect", data={"token": token, **auth}).json() == {"active": False}
        gone = http.get(f"{base}/tokeninfo", params={"access_token": token})
        assert gone.status_code == 401 and gone.json()["error"] == "invalid_token"
        assert "invalid_token" in gone.headers["www-authenticate"]


def test_basic_auth_and_default_scopes(server: Server, demo: dict[str, str]) -> None:
    base = server.realm_url("alpha")
    with server.client() as http:
        r = http.post(f"{base}/access_token", data={"grant_type": "client_credentials"},
                      auth=("demo-client", demo["demo-client"]))
        # demo-client registered client_secret_post; the secret in a Basic header works as well.
        assert r.status_code == 200 and r.json()["scope"] == "data-read data-write", r.text
        r = http.post(f"{base}/access_token", data={"grant_type": "client_credentials", "client_id": "demo-client",
                                                    "client_secret": demo["demo-client"]})
        assert r.status_code == 200 and r.json()["scope"] == "data-read data-write"


def test_discovery_and_jwks(server: Server, demo: dict[str, str]) -> None:
    base = server.realm_url("alpha")
    with server.client() as http:
        for path in ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"):
            d = http.get(base + path).json()
            assert d["issuer"] == base
            assert d["token_endpoint"] == f"{base}/access_token"
            assert d["registration_endpoint"] == f"{base}/register"
            assert d["jwks_uri"] == f"{base}/connect/jwk_uri"
            assert "data-read" in d["scopes_supported"]
            # Privileged scopes are not offered to anonymous registration, so discovery does not list them.
            assert "am-introspect-all-tokens" not in d["scopes_supported"] and "fr:idm:*" not in d["scopes_supported"]
        keys = http.get(f"{base}/connect/jwk_uri").json()["keys"]
        assert keys and all(k["alg"] == "ES256" and "d" not in k for k in keys)
        root = http.get(server.realm_url("root") + "/.well-known/openid-configuration").json()
        assert root["issuer"] == server.base_url + "/am/oauth2"
        missing = http.get(server.realm_url("nope") + "/.well-known/openid-configuration")
        assert missing.status_code == 404 and missing.json()["error"] == "not_found"
