"""Helpers for the dynamic client registration tests: realm set-up, keys and signed JWTs."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from credo.management.clients import create_client
from credo.management.realms import update_settings
from credo.oauth.services import Services

SEED_BODY: dict[str, Any] = {
    "grant_types": ["client_credentials"],
    "response_types": ["token"],
    "redirect_uris": ["https://example.com/callback"],
    "scopes": ["data-read", "data-write"],
    "client_name": "Retail Chatbot",
    "token_endpoint_auth_method": "client_secret_post",
}


def settings(services: Services, realm: str = "alpha", **changes: Any) -> None:
    update_settings(services, realm, changes)


class Signer:
    """An EC P-256 key with its public JWK Set, to sign software statements and request bodies."""

    def __init__(self, kid: str | None = None) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.kid = kid or uuid.uuid4().hex[:8]
        jwk = json.loads(ECAlgorithm.to_jwk(self.key.public_key()))
        jwk.update({"kid": self.kid, "alg": "ES256", "use": "sig"})
        self.jwks = {"keys": [jwk]}

    def sign(self, claims: dict[str, Any], headers: dict[str, Any] | None = None) -> str:
        return jwt.encode(claims, self.key, algorithm="ES256", headers={"kid": self.kid, **(headers or {})})


def unsigned(claims: dict[str, Any]) -> str:
    return jwt.encode(claims, None, algorithm="none")  # type: ignore[arg-type]


def now() -> int:
    return int(time.time())


def iat_client(services: Services, realm: str = "alpha", scopes: tuple[str, ...] = ("dcr_register",)) -> tuple[str, str]:
    """A client that may obtain initial access tokens (client credentials with `dcr_register`)."""
    client_id = f"iat-{uuid.uuid4().hex[:8]}"
    _, secret = create_client(services, realm, client_id, scopes=scopes, auth_method="client_secret_post")
    assert secret is not None
    return client_id, secret


def access_token(http: httpx.Client, base: str, client_id: str, secret: str, scope: str | None = None) -> str:
    data = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    if scope:
        data["scope"] = scope
    r = http.post(f"{base}/access_token", data=data)
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def assert_error(r: httpx.Response, status: int, error: str) -> None:
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert body["error"] == error, body
    assert body.get("error_description")
    assert r.headers["cache-control"] == "no-store"
