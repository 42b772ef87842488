"""Service accounts: automation's way into the admin API, without an administrator's password.

A service account is an OAuth2 client of the administration (stored with the clients, in the realm
`__admin__`, which no realm name can take), created by an administrator with what it may do:

- `admin:read` (every GET), or `admin:read admin:write` (every change too);
- the realms it may touch (`realms`, `*` for every one, which also allows creating realms of any name);
  a realm listed may be created by it, so a script can provision its realm end to end.

It authenticates at `POST /admin/api/token` (grant_type=client_credentials) through the core's client
authentication (`oauth/client_auth.py`: the secret's keyed hash or argon2 check, the throttle, and any
method that gains, such as private_key_jwt), and receives a short-lived opaque token stored, like an
administrator's, only as a keyed hash in the token table. Every admin API request re-reads the account:
disabling, narrowing or deleting it takes effect at once; every change it makes is audited with its
name as the actor. Administrators (never a service account) list and revoke admin API tokens.
"""

from __future__ import annotations

import re
import secrets
from typing import Any, Literal

from credo.domain.errors import InvalidRequest, InvalidScope, InvalidToken, NotFound
from credo.domain.models import AuditEvent, Client, TokenRecord
from credo.domain.values import value_object
from credo.keys.secrets import new_secret
from credo.management.admins import ADMIN_CONSOLE_CLIENT, ADMIN_REALM, authenticate
from credo.management.realms import REALM_NAME
from credo.oauth.lifecycle import born_before, creation_time, note_deletion
from credo.oauth.services import Services

ADMIN_READ, ADMIN_WRITE = "admin:read", "admin:write"
ACCESS_SCOPES: dict[str, tuple[str, ...]] = {"read": (ADMIN_READ,), "write": (ADMIN_READ, ADMIN_WRITE)}
ATTR_SERVICE_ACCOUNT = "adminServiceAccount"  # marks the client as one (never set on a realm's client)
ATTR_REALMS = "adminRealms"  # the realm names it may touch; "*": every realm
EVERY_REALM = "*"
SERVICE_TOKEN_LIFETIME = 900  # 15 minutes: a script asks again (client credentials) when it needs to
NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
Access = Literal["read", "write"]


@value_object
class Principal:
    """Who calls the admin API: an administrator (everything) or a service account (its scopes, its realms)."""

    name: str
    kind: Literal["admin", "service_account"]
    scopes: frozenset[str]
    realms: tuple[str, ...] | None  # None: every realm

    def may(self, scope: str) -> bool:
        return scope in self.scopes

    def may_realm(self, realm: str) -> bool:
        return self.realms is None or realm in self.realms


def administrator(name: str) -> Principal:
    return Principal(name, "admin", frozenset(ACCESS_SCOPES["write"]), None)


def _realms(values: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    if not values:
        raise InvalidRequest("no realms", description="realms: name at least one realm, or '*' for every realm.")
    for value in values:
        if value != EVERY_REALM and not REALM_NAME.fullmatch(value):
            raise InvalidRequest(f"realm {value!r}", description=f"realms: '{value}' is not a realm name "
                                 "(lowercase letters, digits, '-' and '_'), nor '*'.")
    return (EVERY_REALM,) if EVERY_REALM in values else tuple(dict.fromkeys(values))


def _access(access: str) -> tuple[str, ...]:
    if access not in ACCESS_SCOPES:
        raise InvalidRequest(f"access {access!r}", description="access: must be 'read' or 'write'.")
    return ACCESS_SCOPES[access]


def is_service_account(client: Client | None) -> bool:
    return client is not None and client.realm == ADMIN_REALM and client.attributes.get(ATTR_SERVICE_ACCOUNT) == ["true"]


def access_of(client: Client) -> str:
    return "write" if ADMIN_WRITE in client.scopes else "read"


def realms_of(client: Client) -> tuple[str, ...]:
    return tuple(client.attributes.get(ATTR_REALMS, ()))


def shown(client: Client) -> dict[str, Any]:
    """A service account as the admin API and the command line show it (never its secret or hash)."""
    return {"name": client.client_id, "description": client.name, "access": access_of(client),
            "scopes": list(client.scopes), "realms": list(realms_of(client)), "enabled": client.enabled,
            "created_at": client.created_at, "updated_at": client.updated_at}


def create_service_account(services: Services, name: str, *, access: str = "read", realms: list[str] | tuple[str, ...],
                           description: str = "", actor: str = "system") -> tuple[Client, str]:
    """Create a service account; returns it with its client secret, shown once."""
    if not NAME.fullmatch(name):
        raise InvalidRequest(f"bad name {name!r}", description="name: use letters, digits, '-' and '_' (max 64).")
    if services.storage.admins.get(name) is not None or services.storage.clients.get(ADMIN_REALM, name) is not None:
        raise InvalidRequest("name taken", description=f"name: '{name}' is already an administrator or service "
                                                       "account.")
    if len(description) > 255:
        raise InvalidRequest("description", description="description: at most 255 characters.")
    scopes, allowed = _access(access), _realms(realms)
    plain = new_secret()
    now = creation_time(services, ADMIN_REALM, "client", name)
    client = Client(realm=ADMIN_REALM, client_id=name, secret_hash=services.hasher.hash_generated(plain),
                    kind="client", name=description, grant_types=("client_credentials",), scopes=scopes,
                    auth_method="client_secret_basic",
                    attributes={ATTR_SERVICE_ACCOUNT: ["true"], ATTR_REALMS: list(allowed)},
                    created_at=now, updated_at=now)
    services.storage.clients.create(client)
    services.audit(AuditEvent(realm=ADMIN_REALM, action="service_account.create", actor=actor, target=name,
                              details={"access": access, "realms": list(allowed)}))
    return client, plain


def get_service_account(services: Services, name: str) -> Client:
    client = services.storage.clients.get(ADMIN_REALM, name)
    if not is_service_account(client):
        raise NotFound(f"service account {name}", description=f"name: service account '{name}' does not exist.")
    assert client is not None
    return client


def list_service_accounts(services: Services) -> list[Client]:
    return [c for c in services.storage.clients.all(ADMIN_REALM) if is_service_account(c)]


def update_service_account(services: Services, name: str, *, access: str | None = None,
                           realms: list[str] | tuple[str, ...] | None = None, enabled: bool | None = None,
                           description: str | None = None, actor: str = "system") -> Client:
    """Change what a service account may do; its tokens follow at once (each request re-reads the account)."""
    from credo.management.clients import update_client

    get_service_account(services, name)
    changes: dict[str, Any] = {}
    if access is not None:
        changes["scopes"] = _access(access)
    if realms is not None:
        current = get_service_account(services, name)
        changes["attributes"] = {**current.attributes, ATTR_REALMS: list(_realms(realms))}
    if enabled is not None:
        changes["enabled"] = bool(enabled)
    if description is not None:
        if len(description) > 255:
            raise InvalidRequest("description", description="description: at most 255 characters.")
        changes["name"] = description
    return update_client(services, ADMIN_REALM, name, changes, actor=actor) if changes else get_service_account(
        services, name)


def new_service_account_secret(services: Services, name: str, *, actor: str = "system") -> str:
    """A new generated secret (returned once); the old one stops working, its tokens stay until revoked."""
    from credo.management.clients import set_secret

    get_service_account(services, name)
    return set_secret(services, ADMIN_REALM, name, actor=actor)


def delete_service_account(services: Services, name: str, *, actor: str = "system") -> None:
    """Delete a service account and revoke every token it holds."""
    get_service_account(services, name)
    for record in services.storage.tokens.of_realm(ADMIN_REALM, services.clock.now()):
        if record.client_id == name:
            services.storage.tokens.delete(record.token_hash)
    services.storage.clients.delete(ADMIN_REALM, name)
    note_deletion(services, ADMIN_REALM, "client", name)
    services.audit(AuditEvent(realm=ADMIN_REALM, action="service_account.delete", actor=actor, target=name))


def issue_token(services: Services, client: Client, scope: str | None = None) -> dict[str, Any]:
    """An admin API token for an authenticated service account (client credentials): its scopes, or the
    subset `scope` asks for."""
    if not is_service_account(client):
        raise InvalidScope("not a service account", description="This client cannot obtain admin API tokens.")
    granted = tuple(scope.split()) if scope else client.scopes
    if not granted or not set(granted) <= set(client.scopes):
        raise InvalidScope("scope beyond the account", description=f"scope: this service account may have "
                                                                   f"{' '.join(client.scopes)}.")
    token, now = new_secret(), services.clock.now()
    services.storage.tokens.add(TokenRecord(
        token_hash=services.hasher.keyed_hash(token), realm=ADMIN_REALM, jti=secrets.token_hex(8),
        kind="access_token", client_id=client.client_id, sub=client.client_id, scopes=granted, issued_at=now,
        expires_at=now + SERVICE_TOKEN_LIFETIME))
    services.audit(AuditEvent(realm=ADMIN_REALM, action="service_account.token", actor=client.client_id,
                              decision="allow", details={"scope": " ".join(granted)}))
    return {"access_token": token, "token_type": "Bearer", "expires_in": SERVICE_TOKEN_LIFETIME,
            "scope": " ".join(granted)}


def principal_of(services: Services, token: str) -> Principal:
    """Who an admin API bearer token speaks for: an administrator (checked by `authenticate`) or a
    service account as it is now (enabled, not a later namesake; its current scopes and realms)."""
    record = services.storage.tokens.get(services.hasher.keyed_hash(token)) if token else None
    if record is None or record.client_id == ADMIN_CONSOLE_CLIENT:
        return administrator(authenticate(services, token))
    if record.realm != ADMIN_REALM or record.kind != "access_token" or record.expires_at <= services.clock.now():
        raise InvalidToken("admin token unknown or expired")
    client = services.storage.clients.get(ADMIN_REALM, record.client_id)
    if client is None or not is_service_account(client) or not client.enabled \
            or not born_before(client.created_at, record.issued_at):
        raise InvalidToken(f"service account {record.client_id} removed or disabled")
    allowed = realms_of(client)
    return Principal(client.client_id, "service_account", frozenset(record.scopes) & frozenset(client.scopes),
                     None if EVERY_REALM in allowed else allowed)


def list_admin_tokens(services: Services) -> list[dict[str, Any]]:
    """The unexpired admin API tokens and console sessions (never the token itself nor its hash)."""
    return [{"id": r.jti, "kind": "session" if r.kind == "session" else "access_token",
             "holder": r.sub, "holder_kind": "admin" if r.client_id == ADMIN_CONSOLE_CLIENT else "service_account",
             "scopes": list(r.scopes), "issued_at": r.issued_at, "expires_at": r.expires_at}
            for r in services.storage.tokens.of_realm(ADMIN_REALM, services.clock.now())
            if r.kind in ("access_token", "session")]


def revoke_admin_token(services: Services, token_id: str, *, actor: str = "system") -> None:
    """Revoke an admin API token or console session by its id (as listed)."""
    for record in services.storage.tokens.of_realm(ADMIN_REALM, services.clock.now()):
        if record.jti == token_id and record.kind in ("access_token", "session"):
            services.storage.tokens.delete(record.token_hash)
            services.audit(AuditEvent(realm=ADMIN_REALM, action="admin.token.revoke", actor=actor,
                                      target=record.sub, details={"id": token_id}))
            return
    raise NotFound(f"admin token {token_id}", description=f"id: admin token '{token_id}' does not exist or expired.")


__all__ = ["ACCESS_SCOPES", "ADMIN_READ", "ADMIN_WRITE", "Principal", "administrator", "create_service_account",
           "delete_service_account", "get_service_account", "issue_token", "list_admin_tokens",
           "list_service_accounts", "new_service_account_secret", "principal_of", "revoke_admin_token",
           "update_service_account"]
