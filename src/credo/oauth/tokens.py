"""Access tokens in two formats, one view.

- stateless: an RFC 9068 JWT (`typ: at+jwt`) signed with the realm's active key;
- stateful: an opaque 256-bit value of which only the keyed hash is stored.

Both read back into `AccessToken`. A token is live only while it verifies, has not expired, has not
been revoked (its `jti` burned), and everything it depends on still exists and is enabled: its client,
its user, every agent in its `act` chain and every application in its audience (the cascade).
"""

from __future__ import annotations

import os
from typing import Any

from credo.domain.models import Client, Realm, TokenRecord
from credo.domain.values import value_object
from credo.keys.keyring import TokenRejected
from credo.keys.secrets import new_secret
from credo.oauth.lifecycle import born_before
from credo.oauth.services import Services, audit_tracking_id
from credo.storage.unit_of_work import UnitOfWork

REVOKED_PREFIX = "revoked:"
FAMILY_REVOKED = "refresh-family:"  # burned when a refresh-token family is revoked
FAMILY_CLAIM = "fid"  # private claim: the refresh-token family an access token was issued with
GRANT_REVOKED = "grant-revoked:"  # burned when a user revokes a consent: every token under it dies
GRANT_CLAIM = "gid"  # private claim: the consent (grant) a token was issued under
STATELESS_CTS = "OAUTH2_STATELESS_GRANT"
STATEFUL_CTS = "OAUTH2_STATEFUL_GRANT"


@value_object
class AccessToken:
    value: str
    realm: str
    claims: dict[str, Any]
    stateless: bool

    @property
    def jti(self) -> str:
        return str(self.claims["jti"])

    @property
    def sub(self) -> str:
        return str(self.claims["sub"])

    @property
    def client_id(self) -> str:
        return str(self.claims["client_id"])

    @property
    def scopes(self) -> tuple[str, ...]:
        return tuple(str(self.claims.get("scope", "")).split())

    @property
    def audience(self) -> tuple[str, ...]:
        aud = self.claims.get("aud")
        if aud is None:
            return ()
        return (aud,) if isinstance(aud, str) else tuple(aud)

    @property
    def act(self) -> dict[str, Any] | None:
        act = self.claims.get("act")
        return act if isinstance(act, dict) else None

    @property
    def exp(self) -> int:
        return int(self.claims["exp"])

    @property
    def iat(self) -> int:
        return int(self.claims["iat"])

    @property
    def is_user_token(self) -> bool:
        return "auth_level" in self.claims

    def actors(self) -> list[str]:
        """The `act` chain, outermost (current actor) first."""
        chain: list[str] = []
        act = self.act
        while act is not None:
            chain.append(str(act.get("sub")))
            nested = act.get("act")
            act = nested if isinstance(nested, dict) else None
        return chain


@value_object
class IssuedToken:
    token: AccessToken
    expires_in: int


def wants_stateless(realm: Realm, client: Client) -> bool:
    override = client.stateless_tokens
    return override if override is not None else realm.settings.token_format == "stateless"


def token_lifetime(realm: Realm, client: Client) -> int:
    return client.access_token_lifetime or realm.settings.access_token_lifetime


def access_token_claims(services: Services, realm: Realm, client: Client, *, sub: str, scopes: tuple[str, ...],
                        grant_type: str, audience: tuple[str, ...] | None = None,
                        act: dict[str, Any] | None = None, user: bool = False, not_after: int | None = None,
                        extra: dict[str, Any] | None = None, lifetime: int | None = None) -> dict[str, Any]:
    """The claims of an access token of `client`, valid `lifetime` seconds (else the client's or realm's
    token lifetime) from now, and not after `not_after`."""
    now = services.clock.now()
    exp = now + (lifetime or token_lifetime(realm, client))
    if not_after is not None:
        exp = min(exp, not_after)
    aud = audience or (client.client_id,)
    claims: dict[str, Any] = {
        "iss": services.issuer(realm),
        "sub": sub,
        "aud": aud[0] if len(aud) == 1 else list(aud),
        "client_id": client.client_id,
        "scope": " ".join(scopes),
        "iat": now,
        "nbf": now,
        "exp": exp,
        "jti": os.urandom(16).hex(),  # 128 random bits, 32 hex digits (uuid4().hex costs more)
        "grant_type": grant_type,
        "realm": realm.path,
        "tokenName": "access_token",
        "authGrantId": new_secret(20),
        "auditTrackingId": audit_tracking_id(),
    }
    if act is not None:
        claims["act"] = act
    if user:
        claims["auth_level"] = 0
    if extra:
        claims.update(extra)
    return claims


async def issue_access_token(services: Services, realm: Realm, client: Client, *, sub: str,
                             scopes: tuple[str, ...], grant_type: str, audience: tuple[str, ...] | None = None,
                             act: dict[str, Any] | None = None, user: bool = False, not_after: int | None = None,
                             extra: dict[str, Any] | None = None, lifetime: int | None = None,
                             work: UnitOfWork) -> IssuedToken:
    """An access token of `client` (claims: `access_token_claims`), signed when the client issues
    stateless tokens, else stored as a keyed hash in `work`."""
    claims = access_token_claims(services, realm, client, sub=sub, scopes=scopes, grant_type=grant_type,
                                 audience=audience, act=act, user=user, not_after=not_after, extra=extra,
                                 lifetime=lifetime)
    if not wants_stateless(realm, client):
        return stored_access_token(services, realm, client, claims, work)
    value = await services.keys.sign(realm.name, claims)
    return _issued(services, AccessToken(value, realm.name, claims, True))


def stored_access_token(services: Services, realm: Realm, client: Client, claims: dict[str, Any],
                        work: UnitOfWork) -> IssuedToken:
    """An opaque access token with `claims`, stored as a keyed hash in `work`."""
    value = new_secret(32)
    work.add_token(TokenRecord(
        token_hash=services.hasher.keyed_hash(value), realm=realm.name, jti=claims["jti"], kind="access_token",
        client_id=client.client_id, sub=claims["sub"], scopes=tuple(claims["scope"].split()),
        issued_at=claims["iat"], expires_at=claims["exp"], claims=claims))
    return _issued(services, AccessToken(value, realm.name, claims, False))


def _issued(services: Services, token: AccessToken) -> IssuedToken:
    claims = token.claims
    services.storage.usage.note(token.realm, claims["grant_type"], claims["iat"])  # the overview's count
    return IssuedToken(token, claims["exp"] - claims["iat"])


def read_access_token(services: Services, realm: Realm, value: str, *, check_live: bool = True) -> AccessToken | None:
    """The token if it is valid and live in this realm; None otherwise (never raises for bad input)."""
    if not value or len(value) > 8192:
        return None
    token: AccessToken | None
    if value.count(".") == 2:
        try:
            claims = services.keys.verify(realm.name, value, issuer=services.issuer(realm))
        except TokenRejected:
            return None
        if "client_id" not in claims or "sub" not in claims:
            return None
        token = AccessToken(value, realm.name, claims, True)
    else:
        record = services.storage.tokens.get(services.hasher.keyed_hash(value))
        if record is None or record.realm != realm.name or record.kind != "access_token":
            return None
        if record.expires_at <= services.clock.now():
            return None
        token = AccessToken(value, realm.name, record.claims, False)
    if _revoked(services, realm, token.jti, token.claims):
        return None
    if check_live and not is_live(services, realm, token):
        return None
    return token


def revocation_marks(claims: dict[str, Any]) -> tuple[str, ...]:
    """The marks that revoke a token besides its own `jti`: its refresh family, the consent it was issued under."""
    family, grant = claims.get(FAMILY_CLAIM), claims.get(GRANT_CLAIM)
    marks = () if family is None else (FAMILY_REVOKED + str(family),)
    return marks if grant is None else (*marks, GRANT_REVOKED + str(grant))


def _revoked(services: Services, realm: Realm, jti: str, claims: dict[str, Any]) -> bool:
    """Revoked itself, or through its family or its consent: one query for all of them."""
    one_time, revoked, marks = services.storage.one_time, REVOKED_PREFIX + jti, revocation_marks(claims)
    return one_time.any_burned(realm.name, (revoked, *marks)) if marks else one_time.is_burned(realm.name, revoked)


def is_live(services: Services, realm: Realm, token: AccessToken) -> bool:
    """The cascade: everything the token depends on must still exist and be enabled."""
    client_id, sub, iat = token.client_id, token.sub, token.iat
    if not _enabled(services, realm, client_id, iat):
        return False
    if token.is_user_token:
        user = services.user(realm.name, sub)
        if user is None or not user.active or not born_before(user.created_at, iat):
            return False
    elif sub != client_id and not _enabled(services, realm, sub, iat):
        return False
    for actor in token.actors():
        if not _enabled(services, realm, actor, iat):
            return False
    for aud in token.audience:  # the token's own client (checked above) is often one of them
        if aud != client_id and not _audience_enabled(services, realm, aud, iat):
            return False
    return True


def _audience_enabled(services: Services, realm: Realm, aud: str, iat: int) -> bool:
    """An audience is a client id, or a resource identifier (RFC 8707) of an enabled client."""
    if "://" not in aud:
        return _enabled(services, realm, aud, iat)
    client = services.storage.clients.by_resource(realm.name, aud)
    return client is not None and client.enabled and born_before(client.created_at, iat)


def _enabled(services: Services, realm: Realm, client_id: str, iat: int) -> bool:
    """The client exists, is enabled, and is the one that existed when the token was issued."""
    client = services.client(realm.name, client_id)
    return client is not None and client.enabled and born_before(client.created_at, iat)


def revoke(services: Services, realm: Realm, token: AccessToken) -> None:
    services.storage.one_time.burn(realm.name, REVOKED_PREFIX + token.jti, token.exp)
    if not token.stateless:
        services.storage.tokens.delete(services.hasher.keyed_hash(token.value))
