"""Who may register a client, and on which terms (combinable protections):

- an initial access token (when open registration is off): a client-credentials access token of this
  realm carrying `dcr_register`, good for exactly one successful registration;
- a software statement: a JWT signed by a key the administrator trusts, whose claims override the body;
- a signed request body: the metadata as the payload of a JWS signed by a trusted key, one-time `jti`;
- a registration policy, evaluated on the final metadata on every create and update;
- a per-process sliding-window rate limit per realm and source IP.
"""

from __future__ import annotations

from typing import Any

from credo.domain.errors import (
    InsufficientScope,
    InvalidClientMetadata,
    InvalidRequest,
    InvalidSoftwareStatement,
    InvalidToken,
    OAuthError,
    TooManyRequests,
    UnapprovedSoftwareStatement,
)
from credo.domain.models import Client, Realm
from credo.domain.settings import KeySource
from credo.domain.values import value_object
from credo.keys import jose
from credo.oauth.credentials import BearerToken
from credo.oauth.registration_metadata import Metadata, uri_hosts
from credo.oauth.services import Services
from credo.oauth.tokens import REVOKED_PREFIX, read_access_token

DCR_SCOPE = "dcr_register"
JWS_ALGS = ("ES256", "RS256", "PS256", "EdDSA")
NBF_LEEWAY = 5
JWT_CLAIMS = ("iss", "sub", "aud", "exp", "iat", "nbf", "jti")
SIGNED_REQUEST_MAX_LIFETIME = 3600


# --- initial access token ---------------------------------------------------------------------


@value_object
class InitialAccess:
    """A checked initial access token: burn `one_time_id` with the new client; `client_id` obtained it."""

    one_time_id: str
    expires_at: int
    client_id: str


def initial_access(services: Services, realm: Realm, bearer: BearerToken | None) -> InitialAccess | None:
    """None when open registration is on; else the initial access token to consume with the new client."""
    if realm.settings.allow_open_registration:
        return None
    value = bearer.value if bearer is not None else None
    token = read_access_token(services, realm, value) if value else None
    if token is None:
        raise InvalidToken("initial access token missing, invalid, expired or used",
                           description="A valid initial access token is required to register a client.")
    if token.claims.get("grant_type") != "client_credentials" or token.is_user_token:
        raise InvalidToken("initial access token not from client credentials",
                           description="A valid initial access token is required to register a client.")
    if DCR_SCOPE not in token.scopes:
        raise InsufficientScope(f"token of {token.client_id} lacks {DCR_SCOPE}",
                                description=f"The access token needs the '{DCR_SCOPE}' scope.")
    return InitialAccess(REVOKED_PREFIX + token.jti, token.exp, token.client_id)


# --- signed JWTs from outside -----------------------------------------------------------------


async def trusted_jwks(services: Services, source: KeySource) -> dict[str, Any] | None:
    if source.jwks is not None:
        return source.jwks
    if source.jwks_uri is None:
        return None
    try:
        return await services.blocking.run(services.remote_jwks.get, str(source.jwks_uri))  # may block: off the loop
    except Exception as exc:  # RemoteJwksError and anything the fetch raised: no keys, refuse
        raise _KeysUnavailable(f"jwks_uri fetch failed: {type(exc).__name__}") from exc


class _KeysUnavailable(Exception):
    pass


def verify_jws(token: str, jwks: dict[str, Any], *, now: int, require: list[str],
               audience: str | None = None) -> dict[str, Any]:
    """Claims of a JWS signed by one of `jwks`'s keys with an allowed algorithm, not expired at `now`
    (integer NumericDates only); jose.JoseError otherwise."""
    return jose.verify_with_key_set(token, jwks, algorithms=JWS_ALGS, now=now, require=require, audience=audience,
                                    nbf_leeway=NBF_LEEWAY)


async def software_statement_claims(services: Services, realm: Realm, statement: Any) -> dict[str, Any]:
    """The verified claims of a software statement (RFC 7591 §2.3)."""
    source = realm.settings.protection.software_statement_keys
    if not isinstance(statement, str) or statement.count(".") != 2 or len(statement) > 16384:
        raise InvalidSoftwareStatement("software statement not a compact JWS")
    try:  # the shape and the algorithm first: nothing is fetched for a token that cannot verify
        jose.parse(statement, JWS_ALGS)
    except jose.JoseError as exc:
        raise InvalidSoftwareStatement(f"software statement rejected: {exc}") from exc
    try:
        jwks = await trusted_jwks(services, source)
    except _KeysUnavailable as exc:
        raise UnapprovedSoftwareStatement(str(exc)) from exc
    if jwks is None:
        raise UnapprovedSoftwareStatement("no software statement keys configured")
    try:
        claims = verify_jws(statement, jwks, now=services.clock.now(), require=["iss"])
    except jose.JoseError as exc:
        raise InvalidSoftwareStatement(f"software statement rejected: {exc}") from exc
    if source.issuers and claims.get("iss") not in source.issuers:
        raise UnapprovedSoftwareStatement(f"issuer {claims.get('iss')!r} not approved")
    return {k: v for k, v in claims.items() if k not in JWT_CLAIMS}


class InvalidSignedRequest(OAuthError):
    error = "invalid_request"
    status = 400
    public_description = "The signed registration request is invalid."


async def signed_request_metadata(services: Services, realm: Realm, jws: str, endpoint: str) -> dict[str, Any]:
    """The metadata carried by a signed request body, after signature, audience, expiry and replay checks."""
    source = realm.settings.protection.signed_request_keys
    try:  # the shape and the algorithm first: nothing is fetched for a token that cannot verify
        jose.parse(jws.strip(), JWS_ALGS)
    except jose.JoseError as exc:
        raise InvalidSignedRequest(f"signed request rejected: {exc}") from exc
    try:
        jwks = await trusted_jwks(services, source)
    except _KeysUnavailable as exc:
        raise InvalidSignedRequest(str(exc)) from exc
    if jwks is None:
        raise InvalidRequest("signed request without keys",
                             description="This realm does not accept signed registration requests.")
    try:
        claims = verify_jws(jws.strip(), jwks, now=services.clock.now(), require=["exp", "jti", "aud", "iss"],
                            audience=endpoint)
    except jose.JoseError as exc:
        raise InvalidSignedRequest(f"signed request rejected: {exc}") from exc
    if source.issuers and claims.get("iss") not in source.issuers:
        raise InvalidSignedRequest(f"signed request issuer {claims.get('iss')!r} not approved")
    now = services.clock.now()
    exp: int = claims["exp"]  # an integer: verify_jws refuses any other NumericDate
    if exp > now + SIGNED_REQUEST_MAX_LIFETIME:
        raise InvalidSignedRequest("signed request lives too long",
                                   description="The signed registration request must expire within an hour.")
    one_time = f"regjti:{claims['iss']}:{claims['jti']}"
    if not services.storage.one_time.burn(realm.name, one_time, exp):
        raise InvalidSignedRequest(f"replayed jti {claims['jti']!r}")
    return {k: v for k, v in claims.items() if k not in JWT_CLAIMS}


# --- policy and rate limit --------------------------------------------------------------------


def check_policy(services: Services, realm: Realm, metadata: Metadata, *, creating: bool) -> None:
    """The realm's registration policy, on the final merged metadata; errors name the rule."""
    policy = realm.settings.protection.policy
    if policy.allowed_grant_types:
        extra = [g for g in metadata.grant_types if g not in policy.allowed_grant_types]
        if extra:
            raise _rule("allowed_grant_types", f"grant_types: not allowed by the registration policy: {' '.join(extra)}")
    if policy.allowed_scopes:
        extra = [s for s in metadata.scopes if s not in policy.allowed_scopes]
        if extra:
            raise _rule("allowed_scopes", f"scope: not allowed by the registration policy: {' '.join(extra)}")
    if policy.allowed_redirect_hosts:
        _check_hosts(policy.allowed_redirect_hosts, "redirect_uris", metadata.redirect_hosts)
        _check_hosts(policy.allowed_redirect_hosts, "post_logout_redirect_uris",
                     uri_hosts(metadata.post_logout_redirect_uris))
    if creating and policy.max_clients is not None and \
            services.storage.clients.count(realm.name, dynamic=True) >= policy.max_clients:
        raise max_clients_reached()  # checked again when the client is stored (concurrent registrations)


def max_clients_reached() -> InvalidClientMetadata:
    return _rule("max_clients", "The registration policy's max_clients limit is reached")


def check_open_registration(realm: Realm, metadata: Metadata, *, kept: Client | None = None) -> None:
    """What an anonymous registration (no initial access token, software statement or signed request) may
    not ask for: a privileged scope, or a grant type outside the realm's `open_registration_grant_types`
    (the password grant by default). On an update (`kept`: the client as it is), what it has stays."""
    s = realm.settings
    kept_scopes, kept_grants = (kept.scopes, kept.grant_types) if kept is not None else ((), ())
    privileged = [x for x in metadata.scopes if x in s.privileged_scopes and x not in kept_scopes]
    if privileged:
        raise InvalidClientMetadata(f"privileged scope through open registration: {privileged}", description=(
            f"scope: {' '.join(privileged)} cannot be obtained through open registration (ask an administrator "
            "for an initial access token, or send a software statement)."))
    grants = [g for g in metadata.grant_types if g not in s.open_registration_grant_types and g not in kept_grants]
    if grants:
        raise InvalidClientMetadata(f"grant through open registration: {grants}", description=(
            f"grant_types: {' '.join(grants)} cannot be obtained through open registration in this realm."))


def _check_hosts(allowed: tuple[str, ...], name: str, hosts: tuple[str, ...]) -> None:
    extra = [h for h in hosts if h not in allowed]
    if extra:
        raise _rule("allowed_redirect_hosts", f"{name}: host not allowed by the registration policy: {' '.join(extra)}")


def _rule(rule: str, message: str) -> InvalidClientMetadata:
    return InvalidClientMetadata(f"policy rule {rule}: {message}", description=f"{message} (policy rule {rule}).")


def check_rate(services: Services, realm: Realm, source: str) -> None:
    limit = realm.settings.protection.policy.rate_limit_per_minute
    if limit is None:
        return
    wait = services.registration_rate.hit((realm.name, source), limit, services.clock.now())
    if wait:
        raise TooManyRequests(f"registration rate limit for {source}", retry_after=wait)
