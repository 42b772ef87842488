"""The JOSE part of DPoP (RFC 9449 §4.2-4.3): parse a DPoP proof, verify its signature with the public
key it carries, and compute the key's RFC 7638 thumbprint. Beside `jose.py` and built on it.

A DPoP proof is the one JWT whose verification key comes from the token's own header, by design: the
proof shows possession of that key, and the thumbprint of the key is what tokens get bound to. What is
still checked here, whatever the proof says:

- `typ` is exactly `dpop+jwt`;
- `alg` is in `PROOF_ALGS` (asymmetric only: no `none`, no HMAC);
- `jwk` is a public RSA, EC or OKP key without any private member, and fits `alg` (key type, curve);
- no other header points to key material (`jku`, `x5u`, `x5c`, `kid` is allowed but ignored) or demands
  processing (`crit`);
- the signature verifies with that key; the claims are a strict JSON object with an integer `iat` and
  string `jti`, `htm`, `htu`.

The decisions (method, URL, time window, replay, nonce, binding) are the core's: `credo.oauth.dpop`.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from cachetools import LRUCache

from credo.domain.values import value_object
from credo.keys.jose import (
    Compact,
    JoseError,
    Key,
    b64url,
    key_from_jwk,
    loads,
    signature_valid,
    split,
)

PROOF_TYP = "dpop+jwt"
# What discovery advertises as dpop_signing_alg_values_supported; all asymmetric (keys/jose.py knows them).
PROOF_ALGS = ("ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA")
MAX_PROOF_LENGTH = 8192  # an RSA-4096 key in the header and a long htu fit several times
_FORBIDDEN = ("jku", "x5u", "x5c", "crit")
_PRIVATE = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
# RFC 7638 §3.2: the required members of each key type, in lexicographic order.
_THUMBPRINT_MEMBERS = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n"), "OKP": ("crv", "kty", "x")}


_KEYS: LRUCache[tuple[str, bytes], tuple[Key, str]] = LRUCache(maxsize=10_000)  # prepared proof keys


class ProofError(JoseError):
    """The proof is malformed or its signature does not verify; the message is for the log only."""


@value_object
class Proof:
    """A DPoP proof whose signature verified with the key in its header."""

    claims: dict[str, Any]
    jkt: str  # the RFC 7638 SHA-256 thumbprint of the proof's key, base64url

    @property
    def jti(self) -> str:
        return str(self.claims["jti"])

    @property
    def iat(self) -> int:
        return int(self.claims["iat"])


def thumbprint(jwk: dict[str, Any]) -> str:
    """The RFC 7638 SHA-256 thumbprint of a public JWK (its required members only, sorted, no spaces)."""
    members = _THUMBPRINT_MEMBERS.get(jwk.get("kty"))  # type: ignore[arg-type]
    if members is None or not all(isinstance(jwk.get(m), str) for m in members):
        raise ProofError("jwk without the members of its key type")
    canonical = orjson.dumps({m: jwk[m] for m in members}, option=orjson.OPT_SORT_KEYS)
    return b64url(hashlib.sha256(canonical).digest()).decode()


def b64url_sha256(text: str) -> str:
    return b64url(hashlib.sha256(text.encode()).digest()).decode()


def access_token_hash(token: str) -> str:
    """`ath` (RFC 9449 §4.2): base64url of the SHA-256 of the access token's ASCII value."""
    return b64url_sha256(token)


def verify_proof(value: str) -> Proof:
    """The verified proof in a `DPoP` header value, or ProofError."""
    if not value or len(value) > MAX_PROOF_LENGTH:
        raise ProofError("proof empty or too long")
    try:
        header, payload, signature, signing_input = split(value)
    except JoseError as exc:
        raise ProofError(f"proof: {exc}") from exc
    if header.get("typ") != PROOF_TYP:
        raise ProofError(f"typ {header.get('typ')!r} is not {PROOF_TYP}")
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in PROOF_ALGS:
        raise ProofError(f"algorithm {alg!r} not allowed")
    for name in _FORBIDDEN:
        if name in header:
            raise ProofError(f"forbidden header {name}")
    jwk = header.get("jwk")
    if not isinstance(jwk, dict):
        raise ProofError("no jwk header")
    if any(member in jwk for member in _PRIVATE):
        raise ProofError("private key material in the jwk header")
    key, jkt = _prepared(jwk, alg)
    compact = Compact(header, alg, None, payload, signing_input, signature)
    try:
        valid = signature_valid(compact, key)
    except Exception as exc:  # a signature of the wrong shape for the key: refused, never a 500
        raise ProofError(f"signature check failed: {type(exc).__name__}") from exc
    if not valid:
        raise ProofError("signature does not verify")
    claims = loads(payload)
    if type(claims.get("iat")) is not int:
        raise ProofError("iat missing or not an integer")
    for name in ("jti", "htm", "htu"):
        if not isinstance(claims.get(name), str) or not claims[name]:
            raise ProofError(f"{name} missing or not a string")
    if len(claims["jti"]) > 256:
        raise ProofError("jti too long")
    return Proof(claims, jkt)


def _prepared(jwk: dict[str, Any], alg: str) -> tuple[Key, str]:
    """The public key of the proof's `jwk` prepared for `alg`, and its thumbprint. A client signs every
    proof with the same key, so the preparation (parsing the JWK, checking its type and curve) is
    remembered per exact JWK and algorithm; only public keys are ever cached."""
    try:
        cache_key = (alg, orjson.dumps(jwk, option=orjson.OPT_SORT_KEYS))
    except TypeError as exc:  # not JSON-serialisable after all (cannot happen for parsed JSON)
        raise ProofError("jwk not JSON") from exc
    hit = _KEYS.get(cache_key)
    if hit is not None:
        return hit
    try:
        key = key_from_jwk({k: v for k, v in jwk.items() if k not in ("kid", "use", "key_ops")}, alg)
    except JoseError as exc:
        raise ProofError(f"jwk unusable for {alg}: {exc}") from exc
    prepared = (key, thumbprint(jwk))
    _KEYS[cache_key] = prepared
    return prepared
