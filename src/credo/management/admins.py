"""Administrator accounts and their API tokens (stateful, stored hashed, one hour)."""

from __future__ import annotations

import hmac
import re
import secrets
from dataclasses import replace
from typing import Literal

from credo.domain.errors import InvalidGrant, InvalidRequest, InvalidToken
from credo.domain.models import AdminUser, AuditEvent, TokenRecord
from credo.keys.secrets import new_secret
from credo.oauth.services import Services

ADMIN_REALM = "__admin__"
ADMIN_CONSOLE_CLIENT = "admin-console"  # the client_id of the tokens and sessions of administrators
ADMIN_TOKEN_LIFETIME = 3600
ADMIN_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
MIN_PASSWORD_LENGTH = 12


def create_admin(services: Services, username: str, password: str | None = None, *,
                 actor: str = "system") -> tuple[AdminUser, str]:
    """Create (or reset the password of) an administrator; returns it with the plain password."""
    if not ADMIN_NAME.match(username):
        raise InvalidRequest(f"bad admin name {username!r}",
                             description="username: use letters, digits, '.', '@', '-' and '_' (max 64).")
    if services.storage.clients.get(ADMIN_REALM, username) is not None:
        raise InvalidRequest("name of a service account",
                             description=f"username: '{username}' is a service account's name.")
    plain = password or new_secret(18)
    if len(plain) < MIN_PASSWORD_LENGTH:
        raise InvalidRequest("short password",
                             description=f"password: at least {MIN_PASSWORD_LENGTH} characters are required.")
    admin = AdminUser(username=username, password_hash=services.hasher.hash_password(plain),
                      created_at=services.clock.now(), must_change_password=password is None)
    services.storage.admins.put(admin)
    services.audit(AuditEvent(realm=ADMIN_REALM, action="admin.create", actor=actor, target=username))
    return admin, plain


def bootstrap_admin(services: Services) -> tuple[str, str] | None:
    """At first start: create `admin` with a one-time random password when no administrator exists."""
    if services.storage.admins.all():
        return None
    _, plain = create_admin(services, "admin", actor="bootstrap")
    return "admin", plain


Channel = Literal["api", "console"]
_KIND: dict[str, Literal["access_token", "session"]] = {"api": "access_token", "console": "session"}


def _password_mark(services: Services, admin: AdminUser) -> str:
    """Stamped on every token and session of an administrator: a password change ends them all."""
    return services.hasher.keyed_hash("admin-password:" + admin.password_hash)[:32]


def login(services: Services, username: str, password: str, *, source: str = "", channel: Channel = "api") -> str:
    """Check the credentials (constant time) and issue an admin API token (`channel="api"`) or a console
    session id (`"console"`: good only in the console's cookie, never as a bearer token). Repeated failures
    for one username and source address are throttled (429) like client authentication."""
    key = (ADMIN_REALM, username[:64], source)
    with services.auth_throttle.attempt(key, InvalidGrant):  # reserved before the password is checked
        admin = services.storage.admins.get(username)
        stored = admin.password_hash if admin else _DUMMY_HASH.get(services)
        ok = services.hasher.verify(password, stored) and admin is not None
        if not ok or admin is None:
            services.audit(AuditEvent(realm=ADMIN_REALM, action="admin.login", actor=username[:64], decision="deny"))
            raise InvalidGrant("bad admin credentials", description="username or password is incorrect.")
    token = new_secret()
    now = services.clock.now()
    services.storage.tokens.add(TokenRecord(
        token_hash=services.hasher.keyed_hash(token), realm=ADMIN_REALM, jti=secrets.token_hex(8),
        kind=_KIND[channel], client_id=ADMIN_CONSOLE_CLIENT, sub=username, scopes=("admin",), issued_at=now,
        expires_at=now + ADMIN_TOKEN_LIFETIME, claims={"pw": _password_mark(services, admin)}))
    services.audit(AuditEvent(realm=ADMIN_REALM, action="admin.login", actor=username, decision="allow",
                              details={"channel": channel}))
    return token


def authenticate(services: Services, token: str, *, channel: Channel = "api") -> str:
    """The administrator a token (or a console session id) belongs to; raises InvalidToken. A token
    issued before the administrator's last password change is refused."""
    record = services.storage.tokens.get(services.hasher.keyed_hash(token)) if token else None
    if record is None or record.realm != ADMIN_REALM or record.expires_at <= services.clock.now():
        raise InvalidToken("admin token unknown or expired")
    if record.kind != _KIND[channel] or record.client_id != ADMIN_CONSOLE_CLIENT:
        raise InvalidToken(f"an admin {record.kind} presented as {channel} credentials")
    admin = services.storage.admins.get(record.sub)
    if admin is None:
        raise InvalidToken("admin removed")
    if not hmac.compare_digest(str(record.claims.get("pw", "")), _password_mark(services, admin)):
        raise InvalidToken("admin token issued before a password change")
    return record.sub


def change_password(services: Services, username: str, current: str, new: str, *, actor: str = "system",
                    keep: str | None = None) -> None:
    """An administrator replaces their password (the one-time password must be replaced this way). Every
    token and session of theirs ends, except `keep` (the one the change was made with)."""
    admin = services.storage.admins.get(username)
    if admin is None or not services.hasher.verify(current, admin.password_hash):
        raise InvalidRequest("wrong current password", description="current_password: is not correct.")
    if len(new) < MIN_PASSWORD_LENGTH:
        raise InvalidRequest("short password",
                             description=f"new_password: at least {MIN_PASSWORD_LENGTH} characters are required.")
    if new == current:
        raise InvalidRequest("same password", description="new_password: must differ from the current one.")
    changed = replace(admin, password_hash=services.hasher.hash_password(new), must_change_password=False)
    services.storage.admins.put(changed)
    if keep:
        record = services.storage.tokens.get(services.hasher.keyed_hash(keep))
        if record is not None and record.realm == ADMIN_REALM and record.sub == username:
            services.storage.tokens.delete(record.token_hash)
            services.storage.tokens.add(replace(record, claims={**record.claims,
                                                                "pw": _password_mark(services, changed)}))
    services.audit(AuditEvent(realm=ADMIN_REALM, action="admin.password", actor=actor, target=username))


def logout(services: Services, token: str) -> None:
    services.storage.tokens.delete(services.hasher.keyed_hash(token))


class _Dummy:
    """A real argon2 hash to verify against when the username is unknown (same timing)."""

    def __init__(self) -> None:
        self._hash: str | None = None

    def get(self, services: Services) -> str:
        if self._hash is None:
            self._hash = services.hasher.hash_password(new_secret())
        return self._hash


_DUMMY_HASH = _Dummy()
