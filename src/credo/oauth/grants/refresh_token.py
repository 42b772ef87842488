"""Refreshing an Access Token (RFC 6749 §6) with stateful, opaque, rotating refresh tokens.

Only the keyed hash of a refresh token is stored. Each use burns it (a compare-and-delete, so two
concurrent uses cannot both win) and returns a new one of the same family; scope may only narrow, and
the narrowed scope is what the new refresh token carries. A used token leaves a tombstone: presenting it
again (a replay, so one copy was stolen) revokes the whole family, as the OAuth security BCP advises.
Revoking a refresh token (RFC 7009 §2.1) revokes its family too. Access tokens issued with a family
carry its id (claim `fid`) and stop being active when the family is revoked.
"""

from __future__ import annotations

import uuid

from credo.domain.errors import InvalidGrant
from credo.domain.models import Client, Realm, TokenRecord
from credo.domain.settings import GRANT_REFRESH_TOKEN
from credo.keys.secrets import new_secret
from credo.oauth.dpop import require_key, token_jkt
from credo.oauth.lifecycle import record_current
from credo.oauth.resources import narrowed
from credo.oauth.scopes import grant_scopes, single
from credo.oauth.services import Services
from credo.oauth.token_endpoint import Grant, TokenRequest
from credo.oauth.tokens import FAMILY_CLAIM, FAMILY_REVOKED, GRANT_CLAIM, revocation_marks, token_lifetime
from credo.storage.unit_of_work import UnitOfWork

BAD_REFRESH = "The refresh token is invalid, expired or revoked."
USED_PREFIX = "refresh-used:"
# What a refresh token carries from the grant that started its family into every rotation: the consent,
# the resources (RFC 8707: a refresh may narrow them), the sign-in it came from (for ID tokens).
# A public client's refresh token also carries the DPoP key it is bound to (`jkt`, RFC 9449 §5).
CARRIED = (GRANT_CLAIM, "resources", "auth_time", "sid", "jkt")


def issue_refresh_token(services: Services, request: TokenRequest, client: Client, grant: Grant,
                        scopes: tuple[str, ...], work: UnitOfWork) -> str:
    """The TokenEndpoint's refresh issuer: the new token is stored with the request's unit of work."""
    now = services.clock.now()
    value = new_secret(32)
    family = str(grant.refresh_claims.get("family") or uuid.uuid4().hex)
    claims = {k: v for k, v in grant.refresh_claims.items() if k in CARRIED and v is not None}
    work.add_token(TokenRecord(
        token_hash=services.hasher.keyed_hash(value), realm=request.realm.name, jti=uuid.uuid4().hex,
        kind="refresh_token", client_id=client.client_id, sub=grant.sub, scopes=scopes, issued_at=now,
        expires_at=now + request.realm.settings.refresh_token_lifetime,
        claims={**claims, "user": grant.user, "family": family}))
    return value


def _record(services: Services, realm: Realm, client: Client, token_hash: str) -> TokenRecord | None:
    record = services.storage.tokens.get(token_hash)
    if record is None or record.kind != "refresh_token" or record.realm != realm.name:
        return None
    if record.client_id != client.client_id or record.expires_at <= services.clock.now():
        return None
    return record


def _family_revoked(services: Services, realm: Realm, record: TokenRecord) -> bool:
    """The family revoked, or the consent it was issued under (one query)."""
    marks = revocation_marks({FAMILY_CLAIM: record.claims.get("family"), GRANT_CLAIM: record.claims.get(GRANT_CLAIM)})
    return bool(marks) and services.storage.one_time.any_burned(realm.name, marks)


def find_refresh_token(services: Services, realm: Realm, client: Client, value: str) -> TokenRecord | None:
    """The client's live refresh token with this value, or None."""
    if not value or len(value) > 512:
        return None
    record = _record(services, realm, client, services.hasher.keyed_hash(value))
    if record is None or record.claims.get("used") or _family_revoked(services, realm, record):
        return None
    return record


def revoke_refresh_token(services: Services, realm: Realm, client: Client, value: str) -> None:
    """The revocation endpoint's hook (RFC 7009): another client's token is left alone, silently."""
    record = find_refresh_token(services, realm, client, value)
    if record is not None:
        _revoke_family(services, realm, record, client)
        services.storage.tokens.delete(record.token_hash)


def revoke_family(services: Services, realm: Realm, record: TokenRecord) -> None:
    """Burn a refresh token's family (an administrator's revocation: see oauth/revocation.py)."""
    client = services.client(realm.name, record.client_id)
    if client is None:
        until = services.clock.now() + realm.settings.refresh_token_lifetime
        services.storage.one_time.burn(realm.name, FAMILY_REVOKED + str(record.claims.get("family")), until)
    else:
        _revoke_family(services, realm, record, client)


def _revoke_family(services: Services, realm: Realm, record: TokenRecord, client: Client) -> None:
    """Burn the family for as long as any of its refresh or access tokens can still be live."""
    until = services.clock.now() + max(realm.settings.refresh_token_lifetime, token_lifetime(realm, client))
    services.storage.one_time.burn(realm.name, FAMILY_REVOKED + str(record.claims.get("family")), until)


def _replayed(services: Services, realm: Realm, client: Client, value: str) -> None:
    """A rotated-away token presented again: revoke its family."""
    if not value or len(value) > 512:
        return
    tomb = _record(services, realm, client, services.hasher.keyed_hash(USED_PREFIX + value))
    if tomb is not None and tomb.claims.get("used"):
        _revoke_family(services, realm, tomb, client)
        raise InvalidGrant(f"refresh token replayed; family {tomb.claims.get('family')} revoked", description=BAD_REFRESH)


def _burn(services: Services, realm: Realm, client: Client, record: TokenRecord, value: str) -> None:
    if not services.storage.tokens.delete(record.token_hash):
        _revoke_family(services, realm, record, client)  # two concurrent uses of one token: treat as a replay
        raise InvalidGrant("refresh token used concurrently; family revoked", description=BAD_REFRESH)
    services.storage.tokens.add(TokenRecord(
        token_hash=services.hasher.keyed_hash(USED_PREFIX + value), realm=realm.name, jti=record.jti,
        kind="refresh_token", client_id=record.client_id, sub=record.sub, scopes=(), issued_at=record.issued_at,
        expires_at=record.expires_at, claims={"used": True, "family": record.claims.get("family")}))


class RefreshToken:
    grant_type = GRANT_REFRESH_TOKEN

    async def __call__(self, services: Services, request: TokenRequest, client: Client,
                       requested_scopes: tuple[str, ...], work: UnitOfWork) -> Grant:
        realm = request.realm
        value = single(request.params, "refresh_token", required=True) or ""
        record = find_refresh_token(services, realm, client, value)
        if record is None:
            _replayed(services, realm, client, value)
            raise InvalidGrant("unknown, expired or foreign refresh token", description=BAD_REFRESH)
        grant_scopes(requested_scopes, record.scopes)  # refuse a wider scope before burning the token
        require_key(request.jkt, token_jkt(record.claims), "refresh token")  # before burning it too
        user = bool(record.claims.get("user"))
        if not record_current(services, realm, client, record, user=user):
            raise InvalidGrant(f"client or user {record.sub} gone, inactive or re-created", description=BAD_REFRESH)
        resources = narrowed(request.resources, tuple(record.claims.get("resources") or ()))
        _burn(services, realm, client, record, value)
        claims = record.claims
        carried = {**{k: claims.get(k) for k in CARRIED}, "family": claims.get("family"), "resources": list(resources)}
        id_token = None
        if user and "openid" in record.scopes and claims.get("auth_time") is not None:
            id_token = {"sub": record.sub, "auth_time": claims.get("auth_time"), "sid": claims.get("sid")}
        return Grant(sub=record.sub, allowed_scopes=record.scopes, audience=resources or None, user=user,
                     issue_refresh_token=True, refresh_claims=carried, grant_id=claims.get(GRANT_CLAIM),
                     id_token=id_token)
