"""Authlib's OAuth2Client, unchanged, through the authorization code flow of a live Credo on SQLite and
PostgreSQL, as a public client (no secret, PKCE S256): the authorization URL from the realm's metadata, the
sign-in and consent pages driven over HTTP by the test (the browser), the code redeemed with the verifier
(Authlib checks the callback's state), the ID token validated as Authlib's OpenID client does (signature with
the realm's JWKS, then CodeIDToken: iss, aud, exp, iat, nonce, azp, at_hash), userinfo, and a refresh whose
new ID token is validated the same way."""

from __future__ import annotations

import warnings
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from tests.factories import USER_ID, USERNAME
from tests.signin import REDIRECT, USER_EMAIL, USER_NAME, browser_client, enable_code_flow, profile_user, through_pages
from tests.support import LiveServer

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from authlib.common.security import generate_token
    from authlib.integrations.httpx_client import OAuth2Client
    from authlib.oauth2.rfc6749 import MismatchingStateException
    from authlib.oidc.core import CodeIDToken

CLIENT_ID = "authlib-spa"
SCOPE = "openid profile email"


def _metadata(client: OAuth2Client, base: str) -> dict[str, Any]:
    r = client.request("GET", f"{base}/.well-known/openid-configuration", withhold_token=True)
    assert r.status_code == 200, r.text
    return dict(r.json())


def validated_id_token(client: OAuth2Client, metadata: dict[str, Any], token: dict[str, Any],
                       nonce: str | None) -> CodeIDToken:
    """What Authlib's OpenID client (`parse_id_token`) does with a token response, with `aud` checked too."""
    keys = KeySet.import_key_set(client.request("GET", metadata["jwks_uri"], withhold_token=True).json())
    registry = JWSRegistry(algorithms=metadata["id_token_signing_alg_values_supported"])
    decoded = jwt.decode(token["id_token"], keys, algorithms=metadata["id_token_signing_alg_values_supported"],
                         registry=registry)
    options = {"iss": {"essential": True, "value": metadata["issuer"]},
               "aud": {"essential": True, "value": CLIENT_ID}}
    claims = CodeIDToken(decoded.claims, decoded.header, options,
                         {"nonce": nonce, "client_id": CLIENT_ID, "access_token": token["access_token"]})
    claims.validate(leeway=0)
    return claims


# A live server: Authlib's OAuth2Client opens its own connections (it is the client under test).
def test_authlib_public_client_code_flow_id_token_userinfo_refresh(live_sql_server: LiveServer,
                                                                   live_sql_demo: dict[str, str]) -> None:
    services, base = live_sql_server.services, live_sql_server.realm_url("alpha")
    enable_code_flow(services)
    profile_user(services)
    assert browser_client(services, client_id=CLIENT_ID, public=True) is None

    with OAuth2Client(CLIENT_ID, scope=SCOPE, redirect_uri=REDIRECT, code_challenge_method="S256",
                      token_endpoint_auth_method="none", timeout=10) as client:
        metadata = _metadata(client, base)
        verifier, nonce = generate_token(48), generate_token(20)
        url, state = client.create_authorization_url(metadata["authorization_endpoint"], code_verifier=verifier,
                                                     nonce=nonce)
        with live_sql_server.client() as http:
            back = through_pages(http, http.get(url))
        assert back.status_code in (302, 303), back.text[:300]
        callback = back.headers["location"]
        # RFC 9207: Authlib does not check `iss` on the callback; a client that follows the metadata does.
        assert metadata["authorization_response_iss_parameter_supported"] is True
        assert parse_qs(urlsplit(callback).query)["iss"] == [metadata["issuer"]]

        with pytest.raises(MismatchingStateException):
            client.fetch_token(metadata["token_endpoint"], authorization_response=callback, code_verifier=verifier,
                               state="another-state")
        token = client.fetch_token(metadata["token_endpoint"], authorization_response=callback,
                                   code_verifier=verifier, state=state)
        assert token["token_type"] == "Bearer" and token["scope"] == SCOPE and "refresh_token" in token
        claims = validated_id_token(client, metadata, token, nonce)
        assert claims["sub"] == USER_ID and claims["iss"] == base and claims["azp"] == CLIENT_ID

        info = client.get(metadata["userinfo_endpoint"])  # the fetched access token as Authlib's bearer
        assert info.status_code == 200, info.text
        assert info.json() == {"sub": USER_ID, "preferred_username": USERNAME, "name": USER_NAME, "email": USER_EMAIL}

        refreshed = client.refresh_token(metadata["token_endpoint"])
        assert refreshed["refresh_token"] != token["refresh_token"]
        assert refreshed["access_token"] != token["access_token"]
        again = validated_id_token(client, metadata, refreshed, None)
        assert again["sub"] == USER_ID and again["auth_time"] == claims["auth_time"]
        after = client.get(metadata["userinfo_endpoint"])  # Authlib now sends the refreshed access token
        assert after.status_code == 200 and after.json()["sub"] == USER_ID
