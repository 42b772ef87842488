"""A real OAuth client library (Authlib) against the registration endpoints: the registration
response passes Authlib's RFC 7591 metadata validation, Authlib authenticates with the registered
credentials (client_secret_basic and client_secret_post), and reads, updates and deletes the
registration with the registration access token as its bearer token."""

from __future__ import annotations

import warnings
from typing import Any

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from authlib.integrations.httpx_client import OAuth2Client
    from authlib.oauth2.rfc7591 import ClientMetadataClaims

from tests.support import LiveServer


def _bearer(token: str) -> OAuth2Client:
    return OAuth2Client(token={"access_token": token, "token_type": "Bearer"}, timeout=10)


def _validated(body: dict[str, Any]) -> None:
    claims = ClientMetadataClaims({k: v for k, v in body.items() if k in ClientMetadataClaims.REGISTERED_CLAIMS}, {})
    claims.validate()


# A live server: authlib's OAuth2Client opens its own connections (it is the client under test).
def test_authlib_register_use_read_update_delete(live_sql_server: LiveServer, live_sql_demo: dict[str, str]) -> None:
    base = live_sql_server.realm_url("alpha")
    with OAuth2Client(timeout=10) as anonymous:
        r = anonymous.request("POST", f"{base}/register", json={
            "client_name": "Authlib agent", "scope": "data-read data-write",
            "grant_types": ["client_credentials"], "redirect_uris": ["https://agent.example/cb"],
            "token_endpoint_auth_method": "client_secret_basic", "contacts": ["ops@agent.example"]},
            withhold_token=True)
    assert r.status_code == 201, r.text
    reg = r.json()
    _validated(reg)

    with OAuth2Client(reg["client_id"], reg["client_secret"], scope="data-read",
                      token_endpoint_auth_method="client_secret_basic", timeout=10) as client:
        token = client.fetch_token(f"{base}/access_token", grant_type="client_credentials")
        assert token["scope"] == "data-read" and token["token_type"] == "Bearer"
        info = client.get(f"{base}/tokeninfo")  # Authlib sends the fetched token as its bearer
        assert info.status_code == 200 and info.json()["client_id"] == reg["client_id"]

    with _bearer(reg["registration_access_token"]) as mgmt:
        got = mgmt.get(reg["registration_client_uri"])
        assert got.status_code == 200, got.text
        read = got.json()
        _validated(read)
        assert read["contacts"] == ["ops@agent.example"] and "client_secret" not in read
    # The first registration access token stopped working when the read rotated it.
    with _bearer(reg["registration_access_token"]) as stale:
        assert stale.get(reg["registration_client_uri"]).status_code == 401

    changed = {**{k: read[k] for k in ("client_id", "grant_types", "redirect_uris", "client_name")},
               "scope": "data-read", "token_endpoint_auth_method": "client_secret_post"}
    with _bearer(read["registration_access_token"]) as mgmt:
        put = mgmt.put(reg["registration_client_uri"], json=changed)
        assert put.status_code == 200, put.text
        updated = put.json()
        _validated(updated)
        assert updated["scope"] == "data-read" and updated["token_endpoint_auth_method"] == "client_secret_post"

    with OAuth2Client(reg["client_id"], reg["client_secret"], token_endpoint_auth_method="client_secret_post",
                      timeout=10) as client:
        token = client.fetch_token(f"{base}/access_token", grant_type="client_credentials")
        assert token["scope"] == "data-read"

    with _bearer(updated["registration_access_token"]) as mgmt:
        assert mgmt.delete(reg["registration_client_uri"]).status_code == 204
        assert mgmt.get(reg["registration_client_uri"]).status_code == 401
    with OAuth2Client(timeout=10) as anonymous:
        gone = anonymous.request("GET", f"{base}/tokeninfo", params={"access_token": token["access_token"]},
                             withhold_token=True)
        assert gone.status_code == 401 and gone.json()["error"] == "invalid_token"
