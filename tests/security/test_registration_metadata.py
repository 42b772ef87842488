"""Every bad registration input answers 400 with the exact RFC 7591 error code, over real HTTP."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.factories import SEED_BODY, assert_oauth_error
from tests.support import Server

BAD_REDIRECTS = [
    "http://example.com/cb",  # plain http, not loopback
    "http://localhost.evil.test/cb",
    "http://localhost@evil.com/cb",
    "https://user:pw@example.com/cb",
    "http://127.0.0.1.evil.test/cb",
    "https://example.com/cb#frag",
    "https://*.example.com/cb",
    "https://example.com/*",
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    " javascript:alert(1)",
    "\tjavascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "DATA:text/html,x",
    "file:///etc/passwd",
    "vbscript:msgbox(1)",
    "/relative/callback",
    "example.com/cb",
    "https:///nohost",
    "https://example.com:99999/cb",
    "https://exa mple.com/cb",
    "https://example.com/cb\r\nX: y",
    "com.example.app:/callback",
    "ftp://example.com/cb",
    "",
]


@pytest.mark.parametrize("uri", BAD_REDIRECTS)
def test_bad_redirect_uri(sqlite_server: Server, sqlite_demo: dict[str, str], uri: str) -> None:
    with sqlite_server.client() as http:
        r = http.post(f"{sqlite_server.realm_url()}/register", json={**SEED_BODY, "redirect_uris": [uri]})
        assert_oauth_error(r, 400, "invalid_redirect_uri")
        assert r.json()["error_description"].startswith("redirect_uris:")


@pytest.mark.parametrize("uri", ["https://example.com/cb", "http://127.0.0.1:8080/cb", "http://[::1]/cb",
                                 "http://localhost:3000/callback", "https://example.com/cb?x=1"])
def test_good_redirect_uri(sqlite_server: Server, sqlite_demo: dict[str, str], uri: str) -> None:
    with sqlite_server.client() as http:
        r = http.post(f"{sqlite_server.realm_url()}/register", json={**SEED_BODY, "redirect_uris": [uri]})
        assert r.status_code == 201, r.text
        assert r.json()["redirect_uris"] == [uri]


RSA_1024_N = "u1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onLRnrq0_IzW7yWR7QkrmBL7jTKEn5u-qKhbwKfBstIs-bMY2Zkp18gnTxKLxoS2tFczGkPLPgizskuemMghRniWaoLcyehkd3qqGElvW_VDL5AaWTg0nLVkjRo9z-40RQzuVaE8AkAFmxZzow3x-VJYKdjykkJ0iT9wCS0DRTXu269V264Vf_3jvredZiKRkgwlL9xNAwxXFg0x_XFw005UWVRIkdgcKWTjpBP2dPwVZ4WWC-9aGVd-Gyn1o0CLelf4rEjGoXbAAEgAqeGUxrcIlbjXfbcmw"


def _rsa_key(bits: int) -> dict[str, Any]:
    import json

    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import RSAAlgorithm

    return dict(json.loads(RSAAlgorithm.to_jwk(rsa.generate_private_key(public_exponent=65537, key_size=bits).public_key())))


BAD_METADATA: list[tuple[str, dict[str, Any], str]] = [
    ("unknown scope", {"scopes": ["data-read", "admin-all"]}, "scope:"),
    ("unknown scope string", {"scopes": None, "scope": "data-read root"}, "scope:"),
    ("scope and scopes differ", {"scope": "data-read"}, "scope:"),
    ("scope not a string", {"scopes": None, "scope": ["data-read"]}, "scope:"),
    ("scopes not a list", {"scopes": "data-read"}, "scopes:"),
    ("bad scope characters", {"scopes": ["data\"read"]}, "scopes:"),
    ("unknown auth method", {"token_endpoint_auth_method": "private_key_jwt"}, "token_endpoint_auth_method:"),
    ("public client credentials", {"token_endpoint_auth_method": "none"}, "token_endpoint_auth_method:"),
    ("grant not enabled", {"grant_types": ["implicit"], "response_types": ["token"]}, "grant_types:"),
    ("grant types not strings", {"grant_types": [1]}, "grant_types:"),
    ("unknown response type", {"response_types": ["id_token"]}, "response_types:"),
    ("code without authorization_code", {"response_types": ["code"]}, "response_types:"),
    ("jwks and jwks_uri", {"jwks": {"keys": []}, "jwks_uri": "https://example.com/jwks"}, "jwks:"),
    ("jwks_uri http", {"jwks_uri": "http://example.com/jwks"}, "jwks_uri:"),
    ("jwks symmetric", {"jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}}, "jwks:"),
    ("jwks nested 300 deep", {"jwks": {"keys": [{"kty": "EC", "crv": "P-256", "x": "a", "y": "b",
                                                 "ext": json.loads("[" * 300 + "]" * 300)}]}}, "jwks:"),
    ("jwks member too long", {"jwks": {"keys": [{"kty": "EC", "crv": "P-256", "x": "a" * 20000, "y": "b"}]}},
     "jwks:"),
    ("jwks private EC", {"jwks": {"keys": [{"kty": "EC", "crv": "P-256", "x": "a", "y": "b", "d": "c"}]}}, "jwks:"),
    ("jwks small RSA", {"jwks": {"keys": [{"kty": "RSA", "e": "AQAB", "n": RSA_1024_N[:171]}]}}, "jwks:"),
    ("jwks empty", {"jwks": {"keys": []}}, "jwks:"),
    ("jwks not object", {"jwks": "keys"}, "jwks:"),
    ("client_name not string", {"client_name": 42}, "client_name:"),
    ("client_name too long", {"client_name": "n" * 256}, "client_name: must be a string of at most 255 characters."),
    ("logo_uri javascript", {"logo_uri": "javascript:alert(1)"}, "logo_uri:"),
    ("contacts not list", {"contacts": "a@example.com"}, "contacts:"),
]


@pytest.mark.parametrize("case, changes, field", BAD_METADATA, ids=[c[0] for c in BAD_METADATA])
def test_bad_metadata(sqlite_server: Server, sqlite_demo: dict[str, str], case: str,
                      changes: dict[str, Any], field: str) -> None:
    body = {k: v for k, v in {**SEED_BODY, **changes}.items() if v is not None}
    with sqlite_server.client() as http:
        r = http.post(f"{sqlite_server.realm_url()}/register", json=body)
        assert_oauth_error(r, 400, "invalid_client_metadata")
        assert r.json()["error_description"].startswith(field), r.json()


def test_rsa_key_sizes_and_public_keys(sqlite_server: Server, sqlite_demo: dict[str, str]) -> None:
    with sqlite_server.client() as http:
        small = http.post(f"{sqlite_server.realm_url()}/register", json={**SEED_BODY, "jwks": {"keys": [_rsa_key(1024)]}})
        assert_oauth_error(small, 400, "invalid_client_metadata")
        ok = http.post(f"{sqlite_server.realm_url()}/register", json={**SEED_BODY, "jwks": {"keys": [_rsa_key(2048)]}})
        assert ok.status_code == 201, ok.text
        assert ok.json()["jwks"]["keys"][0]["kty"] == "RSA"


def test_scope_string_and_defaults(sqlite_server: Server, sqlite_demo: dict[str, str]) -> None:
    base = sqlite_server.realm_url()
    with sqlite_server.client() as http:
        r = http.post(f"{base}/register", json={"scope": "data-read email", "client_name": "s"})
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["scope"] == "data-read email" and body["scopes"] == ["data-read", "email"]
        assert body["token_endpoint_auth_method"] == "client_secret_basic"
        assert body["grant_types"] == ["client_credentials"] and body["response_types"] == []
        none = http.post(f"{base}/register", json={"client_name": "no scopes"}).json()
        assert none["scopes"] == [] and none["scope"] == ""
        # Basic works for a client registered with the default method.
        tok = http.post(f"{base}/access_token", data={"grant_type": "client_credentials"},
                        auth=(body["client_id"], body["client_secret"]))
        assert tok.status_code == 200 and tok.json()["scope"] == "data-read email"


def test_server_managed_fields_ignored_and_urls_not_fetched(sqlite_server: Server,
                                                          sqlite_demo: dict[str, str]) -> None:
    with sqlite_server.client() as http:
        r = http.post(f"{sqlite_server.realm_url()}/register", json={
            **SEED_BODY, "client_secret": "chosen-secret-0123456789",
            "registration_access_token": "chosen", "client_id_issued_at": 1,
            "logo_uri": "https://10.0.0.1/logo.png", "client_uri": "http://169.254.169.254/latest/meta-data"})
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["client_secret"] != "chosen-secret-0123456789"
        assert body["registration_access_token"] != "chosen" and body["client_id_issued_at"] > 1
        assert body["logo_uri"] == "https://10.0.0.1/logo.png"


@pytest.mark.parametrize("headers, content, status", [
    ({"content-type": "application/x-www-form-urlencoded"}, b"client_name=x", 415),
    ({"content-type": "text/plain"}, b"{}", 415),
    ({"content-type": "application/json"}, b"[1, 2]", 400),
    ({"content-type": "application/json"}, b"{not json", 400),
    ({"content-type": "application/json"}, b'{"client_name": "' + b"x" * 70000 + b'"}', 413),
])
def test_body_shape(sqlite_server: Server, sqlite_demo: dict[str, str], headers: dict[str, str],
                    content: bytes, status: int) -> None:
    with sqlite_server.client() as http:
        r = http.post(f"{sqlite_server.realm_url()}/register", headers=headers, content=content)
        assert_oauth_error(r, status, "invalid_request")


CONSISTENCY: list[tuple[list[str], list[str] | None, int, str | None]] = [
    (["authorization_code"], ["code"], 201, None),
    (["authorization_code"], None, 201, None),  # response_types derived: ["code"]
    (["implicit"], ["token"], 201, None),
    (["authorization_code", "implicit"], ["code", "token"], 201, None),
    (["client_credentials"], ["token"], 201, None),  # as in the seeds
    (["authorization_code"], ["token"], 400, "invalid_client_metadata"),
    (["implicit"], ["code"], 400, "invalid_client_metadata"),
    (["implicit"], [], 400, "invalid_client_metadata"),
    (["client_credentials"], ["code"], 400, "invalid_client_metadata"),
]


@pytest.mark.parametrize("grants, responses, status, error", CONSISTENCY)
def test_grant_and_response_types_consistent(sqlite_server: Server, sqlite_demo: dict[str, str],
                                             grants: list[str], responses: list[str] | None, status: int,
                                             error: str | None) -> None:
    from tests.factories import realm_settings

    realm_settings(sqlite_server.services, grant_types=["client_credentials", "authorization_code", "implicit"])
    body: dict[str, Any] = {"grant_types": grants, "redirect_uris": ["https://example.com/cb"]}
    if responses is not None:
        body["response_types"] = responses
    with sqlite_server.client() as http:
        r = http.post(f"{sqlite_server.realm_url()}/register", json=body)
        if error is None:
            assert r.status_code == status, r.text
            assert r.json()["grant_types"] == grants
        else:
            assert_oauth_error(r, status, error)
            assert r.json()["error_description"].startswith("response_types:")
        no_redirect = http.post(f"{sqlite_server.realm_url()}/register", json={"grant_types": ["authorization_code"]})
        assert_oauth_error(no_redirect, 400, "invalid_redirect_uri")


def test_no_secret_in_audit_or_storage(sqlite_server: Server, sqlite_demo: dict[str, str]) -> None:
    base = sqlite_server.realm_url()
    with sqlite_server.client() as http:
        reg = http.post(f"{base}/register", json=SEED_BODY).json()
        uri, rat = reg["registration_client_uri"], reg["registration_access_token"]
        read = http.get(uri, headers={"Authorization": f"Bearer {rat}"}).json()
        refused = http.get(uri, headers={"Authorization": f"Bearer {rat}"})
        assert refused.status_code == 401 and rat not in refused.text
        http.put(uri, headers={"Authorization": f"Bearer {read['registration_access_token']}"},
                 json={**SEED_BODY, "client_id": reg["client_id"], "client_secret": "wrong-secret"})
    services = sqlite_server.services
    recorded = repr(services.storage.audit.query("alpha", limit=1000)) + repr(
        services.storage.clients.get("alpha", reg["client_id"]))
    assert reg["client_id"] in recorded and "dcr.register" in recorded
    for value in (reg["client_secret"], rat, read["registration_access_token"], "wrong-secret"):
        assert value not in recorded
