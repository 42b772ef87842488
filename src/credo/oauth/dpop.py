"""DPoP (RFC 9449): the decisions about a proof and about the key a credential is bound to.

The edge reads the `DPoP` header once and hands over a `DpopRequest` (the proof as sent, the method and
the request's public URL); the signature and the key's thumbprint are `credo.keys.dpop`'s. Decided here:

- a proof is for this request: `htm` is the method, `htu` the URL (scheme and host case-insensitive,
  default port dropped, query and fragment ignored, RFC 9449 §4.3);
- it is fresh: `iat` at most `PROOF_MAX_AGE` seconds old and at most `PROOF_SKEW` ahead of our clock;
- it is used once: its `jti` is burned (per key) in the shared one-time table, a compare-and-insert that
  every process and node sees (`_burn_jti`, the one call: the shared replay cache, `services.ephemeral`),
  kept until the proof would be too old anyway;
- nonces (§8, §9): a nonce is an HMAC over the realm and a time window (`NONCE_WINDOW` seconds) under a
  key derived from the server's hashing key, so every process accepts the nonce another issued without
  shared state; the current and the previous window are accepted. A proof that carries a nonce must
  carry a valid one; a realm with `dpop_nonce_required` wants one in every proof. Either refusal is
  `use_dpop_nonce` with a fresh nonce in the `DPoP-Nonce` header;
- binding: an access token issued with a proof carries `cnf.jkt`; a credential bound to a key (a bound
  access token at a protected resource, a public client's bound refresh token, the subject or actor token
  of an exchange) is accepted only with a proof of that key (`require_key`).
"""

from __future__ import annotations

import hmac
from typing import Any
from urllib.parse import urlsplit

from credo.domain.errors import InvalidDpopProof, InvalidToken, UseDpopNonce
from credo.domain.models import Realm
from credo.domain.values import value_object
from credo.keys.dpop import Proof, ProofError, access_token_hash, b64url_sha256, verify_proof
from credo.oauth.services import Services
from credo.oauth.tokens import AccessToken

PROOF_MAX_AGE = 300  # seconds a proof is accepted after its iat
PROOF_SKEW = 60  # seconds a proof's iat may be ahead of our clock
NONCE_WINDOW = 300  # seconds: a nonce is accepted in its window and the next one (5 to 10 minutes)
JTI_PREFIX = "dpop-jti:"
BAD_PROOF = "The DPoP proof is missing or invalid."
_DEFAULT_PORTS = {"http": 80, "https": 443}


@value_object
class DpopRequest:
    """What the edge read: the `DPoP` header as sent ("" when empty or repeated), the HTTP method and
    the URL the request was sent to as the public sees it (the server's public URL and the path)."""

    proof: str
    method: str
    url: str


def token_jkt(claims: dict[str, Any]) -> str | None:
    """The thumbprint a token (access token claims, or a refresh token record's claims) is bound to."""
    cnf = claims.get("cnf")
    if isinstance(cnf, dict) and isinstance(cnf.get("jkt"), str):
        return str(cnf["jkt"])
    jkt = claims.get("jkt")
    return jkt if isinstance(jkt, str) else None


def normalized_url(url: str) -> str | None:
    """A URL for comparison (RFC 9449 §4.3, RFC 3986 §6.2.2-6.2.3), None when it is not an http(s) URL."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "")
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port is None or port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
    return f"{scheme}://{netloc}{parts.path or '/'}"


def _same_url(htu: str, url: str) -> bool:
    normalized = normalized_url(htu)
    return normalized is not None and normalized == normalized_url(url)


def _nonce_at(services: Services, realm: Realm, window: int) -> str:
    key = services.hasher.keyed_hash("dpop-nonce-key").encode()  # derived: the hashing key never signs this
    return hmac.digest(key, f"{realm.name}:{window}".encode(), "sha256").hex()[:32]


def fresh_nonce(services: Services, realm: Realm) -> str:
    """The nonce of the current window (any process computes the same one)."""
    return _nonce_at(services, realm, services.clock.now() // NONCE_WINDOW)


def _nonce_valid(services: Services, realm: Realm, nonce: object) -> bool:
    if not isinstance(nonce, str) or len(nonce) != 32:
        return False
    window = services.clock.now() // NONCE_WINDOW
    return any(hmac.compare_digest(nonce, _nonce_at(services, realm, w)) for w in (window, window - 1))


async def _burn_jti(services: Services, realm: Realm, proof: Proof) -> bool:
    """The replay check: True the first time this key's proof `jti` is seen, by any process."""
    marker = f"{JTI_PREFIX}{realm.name}:{b64url_sha256(f'{proof.jkt}:{proof.jti}')}"  # bounded, whatever the jti
    return await services.ephemeral.first_use(marker, proof.iat + PROOF_MAX_AGE + 1, now=services.clock.now())


async def check_proof(services: Services, realm: Realm, request: DpopRequest, *, access_token: str | None = None,
                resource: bool = False) -> Proof:
    """The proof, verified and burned, or InvalidDpopProof / UseDpopNonce (401s at a protected resource:
    `resource`). `access_token`: the token the proof must hash in `ath` (at a protected resource)."""
    try:
        proof = verify_proof(request.proof)
    except ProofError as exc:
        raise InvalidDpopProof(str(exc), resource=resource) from exc
    claims, now = proof.claims, services.clock.now()
    if claims["htm"] != request.method:
        raise InvalidDpopProof(f"htm {claims['htm']!r} is not {request.method}", resource=resource)
    if claims["htu"] != request.url and not _same_url(claims["htu"], request.url):  # as sent, usually
        raise InvalidDpopProof(f"htu {claims['htu'][:200]!r} is not {request.url}", resource=resource)
    if not now - PROOF_MAX_AGE <= proof.iat <= now + PROOF_SKEW:
        raise InvalidDpopProof(f"iat {proof.iat} outside the window at {now}", resource=resource)
    if access_token is not None and not hmac.compare_digest(str(claims.get("ath", "")),
                                                            access_token_hash(access_token)):
        raise InvalidDpopProof("ath missing or not the hash of the access token", resource=resource)
    if "nonce" in claims or realm.settings.dpop_nonce_required:
        if not _nonce_valid(services, realm, claims.get("nonce")):
            raise UseDpopNonce("nonce missing or stale", nonce=fresh_nonce(services, realm), resource=resource)
    if not await _burn_jti(services, realm, proof):
        raise InvalidDpopProof(f"proof jti replayed (key {proof.jkt})", resource=resource)
    return proof


def require_key(jkt: str | None, bound: str | None, what: str) -> None:
    """A credential bound to a key (`bound`) is accepted only with a proof of that key (`jkt`)."""
    if bound is not None and (jkt is None or not hmac.compare_digest(jkt, bound)):
        raise InvalidDpopProof(f"{what} is bound to key {bound}; proof key {jkt}", description=(
            f"The {what} is DPoP-bound: send a DPoP proof signed with its key."))


async def check_presented(services: Services, realm: Realm, token: AccessToken, *, dpop_scheme: bool,
                    dpop: DpopRequest | None) -> None:
    """An access token presented to one of our protected resources (RFC 9449 §7): a bound token only with
    the `DPoP` scheme and a proof of its key that hashes it (`ath`); an unbound one only as Bearer."""
    bound = token_jkt(token.claims)
    if not dpop_scheme:
        if bound is not None:
            raise InvalidToken("DPoP-bound token presented as Bearer", scheme="DPoP",
                               description="The access token is DPoP-bound: send it as 'Authorization: DPoP' "
                                           "with a DPoP proof.")
        return
    if bound is None:
        raise InvalidToken("unbound token presented with the DPoP scheme", scheme="DPoP",
                           description="The access token is not DPoP-bound: send it as 'Authorization: Bearer'.")
    if dpop is None:
        raise InvalidDpopProof("no DPoP header with a DPoP token", resource=True)
    proof = await check_proof(services, realm, dpop, access_token=token.value, resource=True)
    if not hmac.compare_digest(proof.jkt, bound):
        raise InvalidDpopProof(f"proof key {proof.jkt} is not the token's {bound}", resource=True)
