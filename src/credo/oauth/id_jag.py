"""Identity Assertion JWT Authorization Grants (ID-JAG, draft-ietf-oauth-identity-assertion-authz-grant),
the enterprise-managed authorization of MCP clients, on both sides:

- as identity provider (`issue`): token exchange (RFC 8693) with `requested_token_type` = the ID-JAG token
  type, `audience` = another authorization server's issuer, `resource`, and the user's ID token or access
  token (issued here, to the requesting client) as subject. An administrator's rule
  (`settings.federation.id_jag_rules`) decides which client may obtain one for which audience and resources,
  for which users or groups, with which scopes. The ID-JAG is a JWT signed with the realm's key, `typ`
  `oauth-id-jag+jwt`, with iss, sub, aud, client_id, jti, exp, iat, resource, scope (and auth_time when the
  ID token had one).
- as the receiving authorization server (`redeem`, through the jwt-bearer grant): an ID-JAG from a trusted
  identity provider (`settings.federation.id_jag_issuers`: a realm of this Credo, or an issuer by JWK Set)
  with `typ` `oauth-id-jag+jwt`, `aud` = this realm's issuer, `client_id` = the authenticated client,
  `resource` covering the requested one, a `jti` not seen before, and a `sub` that is an active user of this
  realm, gives an access token for that user.

Every issuance and refusal on either side is audited (action `id_jag`), like token exchanges.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable
from typing import Any, Literal

from credo.domain.errors import (
    AccessDenied,
    InvalidGrant,
    InvalidRequest,
    InvalidTarget,
    OAuthError,
    UnauthorizedClient,
)
from credo.domain.models import AuditEvent, Client, Realm
from credo.domain.settings import IdJagIssuer, IdJagRule
from credo.keys import jose
from credo.keys.keyring import TokenRejected
from credo.oauth.exchange_audit import mark_audited
from credo.oauth.exchange_policy import ACCESS_TOKEN_TYPE
from credo.oauth.federation import ID_JAG_TOKEN_TYPE, ID_JAG_TYP, NBF_LEEWAY, is_id_jag, once_id, peek, trusted_key_set
from credo.oauth.oidc import ID_TOKEN_TYP
from credo.oauth.resources import resolve_resources
from credo.oauth.services import Services
from credo.oauth.token_endpoint import Grant, TokenRequest
from credo.oauth.tokens import read_access_token
from credo.storage.unit_of_work import UnitOfWork

ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"
ID_JAG_GRANT_PROFILE = "urn:ietf:params:oauth:grant-profile:id-jag"
ID_JAG_JTI_PREFIX = "idjag:"
AUDIT_ACTION = "id_jag"
MAX_SUBJECT_TOKEN = 8192


def _audit(services: Services, realm: Realm, client: Client, decision: Literal["allow", "deny"], reason: str, details: dict[str, Any],
           work: UnitOfWork) -> None:
    work.audit(AuditEvent(realm=realm.name, action=AUDIT_ACTION, actor=client.client_id, decision=decision,
                          target=str(details.get("audience") or ""), reason=reason, details=details,
                          ts=services.clock.now()))


async def _audited(services: Services, realm: Realm, client: Client, details: dict[str, Any], work: UnitOfWork,
                   decide: Awaitable[Grant]) -> Grant:
    try:
        result = await decide
    except OAuthError as exc:
        _audit(services, realm, client, "deny", f"{exc.error}: {exc.detail}", details, work)
        mark_audited(exc)
        raise
    _audit(services, realm, client, "allow", details["side"], details, work)
    return result


# --- as identity provider ---------------------------------------------------------------------------


async def issue(services: Services, request: TokenRequest, client: Client, requested: tuple[str, ...],
                work: UnitOfWork) -> Grant:
    """The token exchange that answers with an ID-JAG (the pipeline issues no access token for it)."""
    params = request.params
    details: dict[str, Any] = {"side": "issue", "subject": None, "audience": params.get("audience"),
                               "resource": params.get("resource"), "scopes_requested": list(requested),
                               "scopes_granted": []}
    return await _audited(services, request.realm, client, details, work,
                          _issue(services, request, client, requested, details))


async def _issue(services: Services, request: TokenRequest, client: Client, requested: tuple[str, ...],
                 details: dict[str, Any]) -> Grant:
    params, realm = request.params, request.realm
    if "actor_token" in params or "actor_token_type" in params:
        raise InvalidRequest("actor_token with an ID-JAG request",
                             description="An ID-JAG request takes no actor token.")
    user_id, auth_time = _subject(services, realm, client, params)
    details["subject"] = user_id
    audience = params.get("audience")
    if not audience:
        raise InvalidRequest("missing audience", description="The 'audience' parameter (the issuer of the "
                                                             "authorization server) is required.")
    if len(request.resources) > 1:
        raise InvalidTarget("several resources", description="Name at most one resource.")
    resource = params.get("resource")
    rules = [r for r in realm.settings.federation.id_jag_rules if r.client_id == client.client_id]
    if not rules:
        raise UnauthorizedClient(f"no ID-JAG rule for client {client.client_id}",
                                 description="The client may not obtain identity assertions.")
    rules = [r for r in rules if r.audience == audience and (not r.resources or resource in r.resources)]
    if not rules:
        raise InvalidTarget(f"no ID-JAG rule for {client.client_id} to {audience!r} / {resource!r}",
                            description="The client may not obtain an identity assertion for this audience "
                                        "or resource.")
    rule = _rule_for_user(services, realm, rules, user_id)
    scopes = tuple(s for s in requested if s in rule.scopes) if requested else rule.scopes
    details["scopes_granted"] = list(scopes)
    now = services.clock.now()
    lifetime = realm.settings.federation.id_jag_lifetime
    claims: dict[str, Any] = {"iss": services.issuer(realm), "sub": user_id, "aud": audience,
                              "client_id": rule.target_client_id or client.client_id,
                              "jti": os.urandom(16).hex(), "iat": now, "exp": now + lifetime}
    if resource:
        claims["resource"] = resource
    if scopes:
        claims["scope"] = " ".join(scopes)
    if isinstance(auth_time, int):
        claims["auth_time"] = auth_time
    assertion = await services.keys.sign(realm.name, claims, typ=ID_JAG_TYP)
    body: dict[str, Any] = {"access_token": assertion, "issued_token_type": ID_JAG_TOKEN_TYPE,
                            "token_type": "N_A", "expires_in": lifetime, "scope": " ".join(scopes)}
    return Grant(sub=user_id, allowed_scopes=scopes, user=True, body=body)


def _subject(services: Services, realm: Realm, client: Client, params: dict[str, str]) -> tuple[str, Any]:
    """The user the subject token speaks for (an ID token or a user's access token of this realm, issued to
    the requesting client, still valid, of an active user), and its auth_time if known."""
    kind, value = params.get("subject_token_type"), params.get("subject_token")
    if not value:
        raise InvalidRequest("missing subject_token", description="The 'subject_token' parameter is required.")
    if len(value) > MAX_SUBJECT_TOKEN:
        raise InvalidGrant("subject token too long", description="The subject token is invalid.")
    if kind == ID_TOKEN_TYPE:
        try:
            claims = services.keys.verify(realm.name, value, issuer=services.issuer(realm), typ=ID_TOKEN_TYP,
                                          audience=client.client_id)
        except TokenRejected as exc:
            raise InvalidGrant(f"subject ID token refused: {exc}",
                               description="The subject token is invalid, expired or not issued to this client.") from exc
        sub, auth_time = str(claims.get("sub") or ""), claims.get("auth_time")
    elif kind == ACCESS_TOKEN_TYPE:
        token = read_access_token(services, realm, value)
        if token is None or token.exp <= services.clock.now():
            raise InvalidGrant("subject access token not active",
                               description="The subject token is invalid, expired or revoked.")
        if not token.is_user_token or token.client_id != client.client_id:
            raise InvalidGrant("subject access token is not a user's token issued to this client",
                               description="The subject token must be a user's token issued to this client.")
        sub, auth_time = token.sub, None
    else:
        raise InvalidRequest(f"unsupported subject_token_type {kind!r}",
                             description="The subject token must be an ID token or an access token.")
    user = services.user(realm.name, sub)
    if user is None or not user.active:
        raise InvalidGrant(f"user {sub!r} unknown or inactive", description="The subject token is invalid.")
    return sub, auth_time


def _rule_for_user(services: Services, realm: Realm, rules: list[IdJagRule], user_id: str) -> IdJagRule:
    groups: tuple[str, ...] | None = None
    for rule in rules:
        if (not rule.users and not rule.groups) or user_id in rule.users:
            return rule
        if rule.groups:
            groups = services.groups_of(realm.name, user_id) if groups is None else groups
            if set(groups) & set(rule.groups):
                return rule
    raise AccessDenied(f"user {user_id} not allowed by any ID-JAG rule",
                       description="The user may not be asserted to this audience.")


# --- as the receiving authorization server ------------------------------------------------------------


def trusted_issuer(realm: Realm, iss: Any) -> IdJagIssuer | None:
    return next((i for i in realm.settings.federation.id_jag_issuers if i.issuer == iss), None)


async def redeem(services: Services, request: TokenRequest, client: Client, assertion: str,
                 work: UnitOfWork) -> Grant:
    """The jwt-bearer grant with an ID-JAG: an access token for the user it asserts."""
    details: dict[str, Any] = {"side": "redeem", "subject": None, "issuer": None,
                               "audience": request.params.get("resource"), "client_id": client.client_id}
    return await _audited(services, request.realm, client, details, work,
                          _redeem(services, request, client, assertion, details))


async def _redeem(services: Services, request: TokenRequest, client: Client, assertion: str,
                  details: dict[str, Any]) -> Grant:
    realm = request.realm
    seen = peek(assertion)
    if seen is None:
        raise InvalidGrant("assertion is not a JWS")
    header, unverified = seen
    trusted = trusted_issuer(realm, unverified.get("iss"))
    details["issuer"] = str(unverified.get("iss"))[:200]
    if trusted is None:
        raise InvalidGrant(f"ID-JAG from an untrusted issuer {details['issuer']!r}")
    if not is_id_jag(header):
        raise InvalidGrant(f"assertion of {trusted.issuer} is not typed {ID_JAG_TYP}")
    claims = await _verified(services, realm, trusted, assertion)
    for name in ("sub", "client_id", "jti", "iat"):
        if not isinstance(claims.get(name), str if name != "iat" else int):
            raise InvalidGrant(f"ID-JAG without a valid {name}")
    details["subject"] = claims["sub"]
    if claims["client_id"] != client.client_id:
        raise InvalidGrant(f"ID-JAG for client {claims['client_id']!r}, presented by {client.client_id}")
    resources = _resources(services, realm, request.resources, claims.get("resource"))
    details["audience"] = list(resources)
    user = services.user(realm.name, claims["sub"])
    if user is None or not user.active:
        raise InvalidGrant(f"ID-JAG subject {claims['sub'][:200]!r} is no active user of realm {realm.name}")
    if not services.storage.one_time.burn(realm.name, once_id(ID_JAG_JTI_PREFIX, trusted.issuer, claims["jti"]),
                                          claims["exp"]):
        raise InvalidGrant(f"ID-JAG of {trusted.issuer} replayed (jti)")
    allowed = client.scopes
    if isinstance(claims.get("scope"), str):
        asserted = claims["scope"].split()
        allowed = tuple(s for s in allowed if s in asserted)
    return Grant(sub=user.id, allowed_scopes=allowed, audience=resources or None, user=True,
                 not_after=None)


async def _verified(services: Services, realm: Realm, trusted: IdJagIssuer, assertion: str) -> dict[str, Any]:
    """The claims, signed by the issuer's keys, with `aud` = this realm's issuer, not expired."""
    audience = services.issuer(realm)
    if trusted.realm is not None:
        if services.storage.realms.get(trusted.realm) is None:
            raise InvalidGrant(f"ID-JAG issuer realm {trusted.realm} does not exist")
        try:
            return services.keys.verify(trusted.realm, assertion, issuer=trusted.issuer, typ=ID_JAG_TYP,
                                        audience=audience)
        except TokenRejected as exc:
            raise InvalidGrant(f"ID-JAG of {trusted.issuer} refused: {exc}") from exc
    jwks = await trusted_key_set(services, trusted.jwks, trusted.jwks_uri)
    if jwks is None:
        raise InvalidGrant(f"keys of {trusted.issuer} unavailable")
    try:
        return jose.verify_with_key_set(assertion, jwks, algorithms=trusted.algorithms, now=services.clock.now(),
                                        require=("iss", "sub", "aud", "exp", "iat", "jti", "client_id"),
                                        audience=audience, nbf_leeway=NBF_LEEWAY)
    except jose.JoseError as exc:
        raise InvalidGrant(f"ID-JAG of {trusted.issuer} refused: {exc}") from exc


def _resources(services: Services, realm: Realm, requested: tuple[str, ...], asserted: Any) -> tuple[str, ...]:
    """The resources the access token is for: those requested, each one the ID-JAG names (invalid_target
    otherwise), or the ID-JAG's own when the request names none; each known in this realm (RFC 8707)."""
    named = [asserted] if isinstance(asserted, str) else [r for r in asserted or () if isinstance(r, str)]
    if requested:
        outside = [r for r in requested if r not in named]
        if outside:
            raise InvalidTarget(f"resource {outside[0][:200]!r} not in the ID-JAG",
                                description="The requested resource is not one the identity assertion names.")
        return resolve_resources(services, realm, requested)
    return resolve_resources(services, realm, tuple(named))
