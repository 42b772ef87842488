"""The ports the protocol core works with, bundled once by the composition root.

`storage` is usually a `credo.storage.cached.CachedStorage`: the realm, client, user, group and policy
reads below are then served from memory, exactly (the cache invalidates itself on its own writes and
through the change counter), so nothing here or in a use case has to invalidate anything."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from typing import Any

from credo.domain.errors import NotFound
from credo.domain.models import AuditEvent, Client, Realm, TokenRecord, User
from credo.keys.clock import Clock
from credo.keys.keyring import KeyRing
from credo.keys.secrets import SecretHasher
from credo.oauth.throttle import AuthThrottle, auth_throttle
from credo.storage.protocols import Storage

Deferred = AuditEvent | TokenRecord
_write_sink: ContextVar[Callable[[Deferred], None] | None] = ContextVar("credo_write_sink", default=None)


def route_writes(sink: Callable[[Deferred], None] | None) -> Token[Callable[[Deferred], None] | None]:
    """Send the current context's (one request's task) audit events and new access-token records to `sink`
    instead of storage.

    The edge uses it to commit the writes of many concurrent requests in one transaction per kind and to
    answer each request only once its writes are committed (see credo.http.group_commit). Undo with
    `unroute_writes(token)`."""
    return _write_sink.set(sink)


def unroute_writes(token: Token[Callable[[Deferred], None] | None]) -> None:
    _write_sink.reset(token)


_audit_counter = itertools.count()
_audit_prefix = str(uuid.uuid4())


def audit_tracking_id() -> str:
    """A per-request identifier shown in introspection, tokeninfo and the log (as in the seeds)."""
    return f"{_audit_prefix}-{next(_audit_counter)}"


@dataclass
class Services:
    storage: Storage
    keys: KeyRing
    hasher: SecretHasher
    clock: Clock
    base_url: str
    script_runner: Any = None  # credo.scripting.ScriptRunner, when scripts are enabled
    extras: dict[str, Any] = field(default_factory=dict)
    auth_throttle: AuthThrottle = field(init=False)
    login_throttle: AuthThrottle = field(init=False)  # password grant: per (realm, username, source)

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        self.auth_throttle = auth_throttle(self.clock)
        self.login_throttle = auth_throttle(self.clock, what="password login", name="login")
        self._last_touch: dict[tuple[str, str], int] = {}

    def issuer(self, realm: Realm) -> str:
        return realm.settings.issuer or f"{self.base_url}{realm.url_path}"

    def realm(self, name: str) -> Realm:
        realm = self.storage.realms.get(name)
        if realm is None:
            raise NotFound(f"realm {name} not found", description=f"Realm '{name}' does not exist.")
        return realm

    def client(self, realm: str, client_id: str) -> Client | None:
        return self.storage.clients.get(realm, client_id)

    def user(self, realm: str, user_id: str) -> User | None:
        return self.storage.users.get(realm, user_id)

    def groups_of(self, realm: str, user_id: str) -> tuple[str, ...]:
        return tuple(self.storage.groups.groups_of(realm, user_id))

    def note_use(self, realm: str, client_id: str) -> None:
        """Record a client's last use, at most once a minute per client and process (best effort)."""
        now = self.clock.now()
        key = (realm, client_id)
        if now - self._last_touch.get(key, -10**9) < 60:
            return
        if len(self._last_touch) > 100_000:
            self._last_touch.clear()
        self._last_touch[key] = now
        self.storage.clients.touch(realm, client_id, now)

    def audit(self, event: AuditEvent) -> None:
        event = event if event.ts else AuditEvent(**{**_fields(event), "ts": self.clock.now()})
        sink = _write_sink.get()
        if sink is None:
            self.storage.audit.add(event)
        else:
            sink(event)

    def store_token(self, record: TokenRecord) -> None:
        """Store a new token record; inside a routed request it is committed with the request's group."""
        sink = _write_sink.get()
        if sink is None:
            self.storage.tokens.add(record)
        else:
            sink(record)


def _fields(event: AuditEvent) -> dict[str, Any]:
    return {f: getattr(event, f) for f in event.__dataclass_fields__}
