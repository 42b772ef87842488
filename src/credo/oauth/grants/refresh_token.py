"""Refreshing an Access Token (RFC 6749 §6) with stateful, opaque, rotating refresh tokens.

Only the keyed hash of a refresh token is stored. Each use burns it (a compare-and-delete, so two
concurrent uses cannot both win) and returns a new one; scope may only narrow, and the narrowed scope
is what the new refresh token carries.
"""

from __future__ import annotations

import uuid

from credo.domain.errors import InvalidGrant
from credo.domain.models import Client, Realm, TokenRecord
from credo.domain.settings import GRANT_REFRESH_TOKEN
from credo.keys.secrets import new_secret
from credo.oauth.scopes import grant_scopes, single
from credo.oauth.services import Services
from credo.oauth.token_endpoint import Grant, TokenRequest

BAD_REFRESH = "The refresh token is invalid, expired or revoked."


def issue_refresh_token(services: Services, request: TokenRequest, client: Client, grant: Grant,
                        scopes: tuple[str, ...]) -> str:
    """The TokenEndpoint's refresh issuer."""
    now = services.clock.now()
    value = new_secret(32)
    services.storage.tokens.add(TokenRecord(
        token_hash=services.hasher.keyed_hash(value), realm=request.realm.name, jti=uuid.uuid4().hex,
        kind="refresh_token", client_id=client.client_id, sub=grant.sub, scopes=scopes, issued_at=now,
        expires_at=now + request.realm.settings.refresh_token_lifetime, claims={"user": grant.user}))
    return value


def find_refresh_token(services: Services, realm: Realm, client: Client, value: str) -> TokenRecord | None:
    if not value or len(value) > 512:
        return None
    record = services.storage.tokens.get(services.hasher.keyed_hash(value))
    if record is None or record.kind != "refresh_token" or record.realm != realm.name:
        return None
    if record.client_id != client.client_id or record.expires_at <= services.clock.now():
        return None
    return record


def revoke_refresh_token(services: Services, realm: Realm, client: Client, value: str) -> None:
    """The revocation endpoint's hook (RFC 7009): another client's token is left alone, silently."""
    record = find_refresh_token(services, realm, client, value)
    if record is not None:
        services.storage.tokens.delete(record.token_hash)


class RefreshToken:
    grant_type = GRANT_REFRESH_TOKEN

    def __call__(self, services: Services, request: TokenRequest, client: Client,
                 requested_scopes: tuple[str, ...]) -> Grant:
        realm = request.realm
        value = single(request.params, "refresh_token", required=True) or ""
        record = find_refresh_token(services, realm, client, value)
        if record is None:
            raise InvalidGrant("unknown, expired or foreign refresh token", description=BAD_REFRESH)
        grant_scopes(requested_scopes, record.scopes)  # refuse a wider scope before burning the token
        user = bool(record.claims.get("user"))
        if user:
            account = services.storage.users.get(realm.name, record.sub)
            if account is None or not account.active:
                raise InvalidGrant(f"user {record.sub} gone or inactive", description=BAD_REFRESH)
        if not services.storage.tokens.delete(record.token_hash):
            raise InvalidGrant("refresh token already used", description=BAD_REFRESH)
        return Grant(sub=record.sub, allowed_scopes=record.scopes, user=user, issue_refresh_token=True)
