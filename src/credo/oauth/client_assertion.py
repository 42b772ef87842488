"""`private_key_jwt` client authentication (RFC 7523 §2.2, OpenID Connect Core §9).

A client registered with `token_endpoint_auth_method` `private_key_jwt` proves itself with a JWT it signed
with its own private key, sent as `client_assertion` with `client_assertion_type`
`urn:ietf:params:oauth:client-assertion-type:jwt-bearer`. The rules:

- `iss` and `sub` are both the client's id (a `client_id` parameter, if sent, names the same client);
- the signature verifies with a key of the client's registered `jwks`, or of the JWK Set behind its
  `jwks_uri` (fetched through the SSRF guard, off the event loop, cached; fetched again once when the
  assertion names a `kid` the cached set does not hold), with an asymmetric algorithm only — the client's
  `token_endpoint_auth_signing_alg` when it registered one;
- `aud` is the realm's issuer or the URL of the endpoint it is sent to;
- `exp` is required and at most MAX_LIFETIME seconds ahead; `nbf` and `iat`, when present, not in the future;
- `jti` is required and single-use until `exp`, across processes (burned in the shared storage, after the
  signature checked, so a forged assertion cannot burn a genuine client's `jti`).

Every refusal is `invalid_client` (401). An assertion whose `iss` is not the client it names (a platform
token from a trusted federation issuer) is not handled here: see `_foreign_issuer`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from typing import Any

from credo.domain.errors import InvalidClient
from credo.domain.models import KEY_AUTH_METHOD, Client
from credo.keys import jose
from credo.oauth.client_documents import authenticating_client
from credo.oauth.services import Services

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_LIFETIME = 600  # seconds an assertion's `exp` may lie ahead of now ("short": RFC 7523 §3 item 4)
LEEWAY = 60  # seconds of clock skew allowed on `nbf` and `iat`
MAX_JTI = 255
JTI_PREFIX = "cajti:"  # replay cache keys: "cajti:<realm>:" + sha256(client_id NUL jti)
MAX_ASSERTION = 8192  # characters; a JWT signed with RSA-4096 is well under 2,000


def unverified_issuer(assertion: str) -> str:
    """The `iss` the assertion claims (not yet verified): for the throttle key and the client lookup."""
    try:
        claims = jose.loads(jose.b64url_decode(assertion.encode("ascii").split(b".")[1]))
    except (jose.JoseError, IndexError, UnicodeEncodeError):
        return ""
    iss = claims.get("iss")
    return iss if isinstance(iss, str) else ""


async def authenticate_assertion(services: Services, realm: str, assertion: str, assertion_type: str | None,
                                 client_id: str | None, audiences: Collection[str]) -> Client:
    """The client that signed `assertion`, or InvalidClient. `audiences`: the realm's issuer and the URL of
    the endpoint the request was sent to."""
    if assertion_type != ASSERTION_TYPE:
        raise InvalidClient(f"unsupported client_assertion_type {assertion_type!r}")
    if len(assertion) > MAX_ASSERTION:
        raise InvalidClient("client_assertion too long")
    try:
        parsed = jose.parse(assertion, jose.ASYMMETRIC_ALGS)
        claimed = jose.loads(parsed.payload)
    except jose.JoseError as exc:
        raise InvalidClient(f"malformed client_assertion: {exc}") from exc
    iss, sub = claimed.get("iss"), claimed.get("sub")
    if not isinstance(iss, str) or not iss or iss != sub:
        return await _foreign_issuer(services, realm, parsed, claimed, client_id, audiences)
    if client_id is not None and client_id != iss:
        raise InvalidClient("client_id differs from the assertion's iss")
    client = await authenticating_client(services, realm, iss)
    if client is None or not client.enabled:
        raise InvalidClient(f"unknown or disabled client {iss!r}")
    if client.auth_method != KEY_AUTH_METHOD:
        raise InvalidClient(f"client {client.client_id} registered {client.auth_method}, used {KEY_AUTH_METHOD}")
    claims = await _verified(services, client, assertion, parsed)
    _check_claims(services, claims, audiences)
    key = f"{JTI_PREFIX}{realm}:" + hashlib.sha256(f"{client.client_id}\0{claims['jti']}".encode()).hexdigest()
    if not await services.ephemeral.first_use(key, int(claims["exp"]), now=services.clock.now()):  # the replay cache
        raise InvalidClient(f"client_assertion jti replayed for client {client.client_id}")
    return client


async def _foreign_issuer(services: Services, realm: str, parsed: jose.Compact, claims: dict[str, Any],
                          client_id: str | None, audiences: Collection[str]) -> Client:
    """The seam for an assertion whose `iss` is not the client it authenticates (`iss` != `sub`): a
    platform token (Kubernetes, SPIFFE) from a trusted federation issuer. Workload identity federation
    plugs in here; without it such an assertion is refused."""
    del services, realm, parsed, claims, client_id, audiences
    raise InvalidClient("client_assertion iss is not the client (sub)")


def signing_algorithms(client: Client) -> frozenset[str]:
    alg = client.metadata.get("token_endpoint_auth_signing_alg")
    return frozenset({alg}) & jose.ASYMMETRIC_ALGS if isinstance(alg, str) else jose.ASYMMETRIC_ALGS


async def _verified(services: Services, client: Client, assertion: str, parsed: jose.Compact) -> dict[str, Any]:
    algorithms = signing_algorithms(client)  # verify_with_key_set refuses any other `alg`
    now = services.clock.now()
    jwks, uri = await _key_set(services, client)
    if uri is not None and parsed.kid is not None and not _holds_kid(jwks, parsed.kid):
        jwks = await _fetch(services, uri, refresh=True)  # rotated since cached: fetch once more
    try:
        return jose.verify_with_key_set(assertion, jwks, algorithms=algorithms, now=now,
                                        require=("iss", "sub", "aud", "exp", "jti"), nbf_leeway=LEEWAY)
    except jose.JoseError as exc:
        raise InvalidClient(f"client_assertion refused for client {client.client_id}: {exc}") from exc


def _holds_kid(jwks: dict[str, Any], kid: str) -> bool:
    return any(isinstance(k, dict) and k.get("kid") == kid for k in jwks.get("keys", []))


async def _key_set(services: Services, client: Client) -> tuple[dict[str, Any], str | None]:
    jwks, uri = client.metadata.get("jwks"), client.metadata.get("jwks_uri")
    if isinstance(jwks, dict):
        return jwks, None
    if isinstance(uri, str):
        return await _fetch(services, uri, refresh=False), uri
    raise InvalidClient(f"client {client.client_id} has no jwks or jwks_uri")


async def _fetch(services: Services, uri: str, *, refresh: bool) -> dict[str, Any]:
    fetcher = services.remote_jwks
    try:  # DNS, connect, read: off the event loop
        return await services.blocking.run(fetcher.refresh if refresh else fetcher.get, uri)
    except Exception as exc:  # RemoteJwksError and anything the fetch raised: no keys, refuse
        raise InvalidClient(f"jwks_uri fetch failed: {exc}") from exc


def _check_claims(services: Services, claims: dict[str, Any], audiences: Collection[str]) -> None:
    now = services.clock.now()
    aud = claims["aud"]
    named = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if not any(isinstance(a, str) and a in audiences for a in named):
        raise InvalidClient(f"client_assertion aud {aud!r} is neither the issuer nor the endpoint")
    if claims["exp"] > now + MAX_LIFETIME:
        raise InvalidClient(f"client_assertion exp more than {MAX_LIFETIME} s ahead")
    if "iat" in claims and claims["iat"] > now + LEEWAY:
        raise InvalidClient("client_assertion iat in the future")
    jti = claims["jti"]
    if not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI:
        raise InvalidClient("client_assertion jti must be a string of 1 to 255 characters")
