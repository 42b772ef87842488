"""Workload identity federation: an agent authenticates with its platform's token, with no secret at all.

A realm trusts external issuers (`settings.federation.workload_issuers`: issuer URL, an inline JWK Set or a
jwks_uri, accepted audiences, a map from the token's `sub` to one agent). The agent presents its platform
token (a Kubernetes service-account token, a SPIFFE JWT-SVID, a cloud workload token) either

- as `client_assertion` (RFC 7523 §2.2) with any grant: the assertion's `iss` names a trusted issuer, so it
  is routed here rather than to `private_key_jwt` (where `iss` = `sub` = the client's own id); every refusal
  is `invalid_client`;
- or as the `assertion` of the jwt-bearer grant (RFC 7523 §2.1) with no other client authentication; every
  refusal is then `invalid_grant` (RFC 7523 §3.1).

The token is verified against the issuer's keys only (`keys/jose.py`: the configured algorithms, a key from
the configured set by `kid`, never one named or carried by the token); then its audience, its expiry, the
subject map, and the agent (it exists, is enabled, is an agent). A token with a `jti` is accepted once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from credo.domain.errors import InvalidClient, InvalidGrant, OAuthError
from credo.domain.models import Client, Realm
from credo.domain.settings import GRANT_JWT_BEARER, WorkloadIssuer
from credo.keys import jose
from credo.oauth.credentials import BasicCredentials
from credo.oauth.services import Services

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ID_JAG_TYP = "oauth-id-jag+jwt"
ID_JAG_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id-jag"  # RFC 8693 token type of an ID-JAG
WORKLOAD_JTI_PREFIX = "wif:"
NBF_LEEWAY = 5
MAX_ASSERTION = 16_384


def peek(token: str | None) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The header and claims of a compact JWS, signature NOT checked (only to choose who verifies it), or None."""
    if not token or len(token) > MAX_ASSERTION:
        return None
    try:
        parsed = jose.parse(token, jose.ASYMMETRIC_ALGS)
        return parsed.header, jose.loads(parsed.payload)
    except jose.JoseError:
        return None


def is_id_jag(header: Mapping[str, Any]) -> bool:
    return str(header.get("typ", "")).lower() in (ID_JAG_TYP, f"application/{ID_JAG_TYP}")


def workload_issuer(realm: Realm, iss: Any) -> WorkloadIssuer | None:
    return next((w for w in realm.settings.federation.workload_issuers if w.issuer == iss), None)


def bearer_authenticates(realm: Realm, params: Mapping[str, str], basic: BasicCredentials | None) -> bool:
    """True when the jwt-bearer grant's assertion is the request's only credential in a realm that trusts
    workload issuers and enables the grant: it then authenticates the agent (RFC 7523 §2.1 with no client
    authentication). Elsewhere such a request has no client authentication (`invalid_client`)."""
    settings = realm.settings
    return (params.get("grant_type") == GRANT_JWT_BEARER and basic is None and "assertion" in params
            and "client_secret" not in params and "client_assertion" not in params
            and bool(settings.federation.workload_issuers) and GRANT_JWT_BEARER in settings.grant_types)


def federated_client_assertion(realm: Realm, params: Mapping[str, str]) -> str | None:
    """The `client_assertion` when it is a trusted workload issuer's token, else None (another method's)."""
    assertion = params.get("client_assertion")
    if assertion is None or not realm.settings.federation.workload_issuers:
        return None
    seen = peek(assertion)
    if seen is None or workload_issuer(realm, seen[1].get("iss")) is None:
        return None
    return assertion


async def authenticate_federated(services: Services, realm: Realm, params: Mapping[str, str],
                                 basic: BasicCredentials | None) -> Client | None:
    """The agent a workload token authenticates, when the request authenticates with one (None otherwise:
    another method applies). Refusals: invalid_client for a `client_assertion`, invalid_grant for the
    jwt-bearer grant's `assertion`."""
    if bearer_authenticates(realm, params, basic):
        seen = peek(params.get("assertion"))
        if seen is not None and is_id_jag(seen[0]):
            raise InvalidClient("an ID-JAG needs client authentication")
        agent = await verify_workload_token(services, realm, params.get("assertion") or "", InvalidGrant)
    else:
        assertion = federated_client_assertion(realm, params)
        if assertion is None:
            return None
        if params.get("client_assertion_type") != CLIENT_ASSERTION_TYPE:
            raise InvalidClient("client_assertion_type is not jwt-bearer")
        agent = await verify_workload_token(services, realm, assertion, InvalidClient)
    claimed = params.get("client_id")
    if claimed is not None and claimed != agent.client_id:
        raise InvalidClient(f"client_id {claimed!r} is not the agent the workload token maps to")
    return agent


async def trusted_key_set(services: Services, jwks: dict[str, Any] | None, jwks_uri: Any) -> dict[str, Any] | None:
    """An issuer's JWK Set: the inline one, or the one at its jwks_uri (fetched off the event loop, through the
    SSRF guard, cached by the fetcher); None when it cannot be had."""
    if jwks is not None:
        return jwks
    if jwks_uri is None:
        return None
    try:
        return await services.blocking.run(services.remote_jwks.get, str(jwks_uri))
    except Exception:  # RemoteJwksError and anything the fetch raised: no keys, the token is refused
        return None


def once_id(prefix: str, issuer: str, jti: str) -> str:
    """A bounded one-time id for an issuer's `jti` (issuers are distinct namespaces)."""
    return prefix + hashlib.sha256(f"{issuer}\0{jti}".encode()).hexdigest()[:40]


async def verify_workload_token(services: Services, realm: Realm, token: str,
                                error: type[OAuthError]) -> Client:
    """The enabled agent a trusted workload issuer's valid token maps to; `error` otherwise."""
    seen = peek(token)
    if seen is None:
        raise error("workload token is not a JWS")
    trusted = workload_issuer(realm, seen[1].get("iss"))
    if trusted is None:
        raise error(f"unknown workload issuer {str(seen[1].get('iss'))[:200]!r}")
    jwks = await trusted_key_set(services, trusted.jwks, trusted.jwks_uri)
    if jwks is None:
        raise error(f"keys of {trusted.issuer} unavailable")
    now = services.clock.now()
    try:
        claims = jose.verify_with_key_set(token, jwks, algorithms=trusted.algorithms, now=now,
                                          require=("iss", "sub", "aud", "exp"), nbf_leeway=NBF_LEEWAY)
    except jose.JoseError as exc:
        raise error(f"workload token of {trusted.issuer} refused: {exc}") from exc
    issuer = services.issuer(realm)
    audiences = trusted.audiences or (issuer, f"{services.base_url}{realm.url_path}/access_token")
    if not any(jose.audience_matches(claims, a) for a in audiences):
        raise error(f"workload token of {trusted.issuer}: wrong audience")
    agent_id = trusted.subjects.get(claims["sub"])
    if agent_id is None:
        raise error(f"workload subject {claims['sub'][:200]!r} of {trusted.issuer} maps to no agent")
    agent = services.client(realm.name, agent_id)
    if agent is None or not agent.enabled or not agent.is_agent:
        raise error(f"agent {agent_id} of workload subject {claims['sub'][:200]!r} is unknown, disabled or no agent")
    jti = claims.get("jti")
    if jti is not None and not await services.ephemeral.first_use(  # the replay cache, shared by every node
            f"{realm.name}:{once_id(WORKLOAD_JTI_PREFIX, trusted.issuer, jti)}", claims["exp"], now=services.clock.now()):
        raise error(f"workload token of {trusted.issuer} replayed (jti)")
    return agent
