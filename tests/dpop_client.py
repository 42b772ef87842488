"""A DPoP client for the tests (RFC 9449), built on joserfc: its own key, its proofs, nothing of Credo's."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import warnings
from typing import Any

import httpx
from joserfc import jws
from joserfc.jwk import ECKey, OKPKey, RSAKey

KEYS: dict[str, Any] = {
    "ES256": lambda: ECKey.generate_key("P-256"), "ES384": lambda: ECKey.generate_key("P-384"),
    "RS256": lambda: RSAKey.generate_key(2048), "PS256": lambda: RSAKey.generate_key(2048),
    "EdDSA": lambda: OKPKey.generate_key("Ed25519"),
}


def ath(token: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(token.encode()).digest()).rstrip(b"=").decode()


class DpopKey:
    """A key pair a DPoP client proves possession of."""

    def __init__(self, alg: str = "ES256", now: Any = None) -> None:
        self.alg = alg
        self.key = KEYS[alg]()
        self.now = now  # a callable giving the server's time (a frozen clock)

    @property
    def jkt(self) -> str:
        return str(self.key.thumbprint())

    @property
    def public_jwk(self) -> dict[str, Any]:
        return dict(self.key.as_dict(private=False))

    def proof(self, htm: str, htu: str, *, token: str | None = None, nonce: str | None = None,
              iat: int | None = None, jti: str | None = None, header: dict[str, Any] | None = None,
              claims: dict[str, Any] | None = None, signer: Any = None) -> str:
        protected = {"typ": "dpop+jwt", "alg": self.alg, "jwk": self.public_jwk, **(header or {})}
        payload: dict[str, Any] = {"jti": jti or secrets.token_urlsafe(16), "htm": htm, "htu": htu,
                                   "iat": iat if iat is not None else int(self.now())}
        if token is not None:
            payload["ath"] = ath(token)
        if nonce is not None:
            payload["nonce"] = nonce
        payload.update(claims or {})
        with warnings.catch_warnings():  # joserfc warns that RFC 9864 deprecates the name EdDSA (still RFC 9449's)
            warnings.simplefilter("ignore")
            return jws.serialize_compact({k: v for k, v in protected.items() if v is not None},
                                         json.dumps(payload).encode(), signer or self.key, algorithms=[protected["alg"]])


def post_token(http: httpx.Client, base: str, data: dict[str, str], proof: str | None) -> httpx.Response:
    headers = {} if proof is None else {"DPoP": proof}
    return http.post(f"{base}/access_token", data=data, headers=headers)
