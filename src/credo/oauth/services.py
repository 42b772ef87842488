"""The ports the protocol core works with, bundled once by the composition root."""

from __future__ import annotations

import itertools
import math
import threading
import time
import uuid
from collections import OrderedDict
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

_arrival: ContextVar[int | None] = ContextVar("credo_request_arrival", default=None)
_now = time.monotonic_ns  # one clock for the whole process (all threads and event loops)
_NEVER = (-1, -1)  # (sent, value) before the first counter read
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


def begin_request() -> None:
    """Mark the arrival of one request in the current context (an asyncio task per request).

    Call it as early as possible (when the request is dispatched). The cache then reads the change
    counter at most once for the request, and not at all when a read sent after the request arrived is
    known (see `RecordCache`): the request sees every change committed before it arrived, and changes
    made later by this process (`Services.changed`) at once. Outside a marked request every lookup reads.
    """
    _arrival.set(_now())


class RecordCache:
    """A bounded LRU cache of realm and client records for the hot path.

    Entries are dropped when the storage's change counter moves (any process writing to the same
    database bumps it), checked at most every `check_interval` seconds (0: on every lookup), and
    immediately when this process writes. A lookup with `keep_absent=False` does not remember that a
    record is missing, so a record created later needs no invalidation: creations leave the counter alone.

    With `check_interval` 0 the check is exact without reading the counter for every request: the cache
    remembers its latest counter read and the clock instant taken just before that read was sent. A
    request that arrived strictly before that instant (`begin_request`) uses the remembered value, since
    every change committed before the request arrived was committed before the read was sent, so the
    read saw it. Any other lookup (a later request, or one outside a marked request) reads the counter.
    The comparison is strict, so two instants on one tick of a coarse clock never share a read.
    """

    def __init__(self, storage: Storage, max_entries: int = 100_000, check_interval: float = 0.0) -> None:
        self._storage = storage
        self._max = max_entries
        self._interval = check_interval
        self._entries: OrderedDict[tuple[str, ...], Any] = OrderedDict()
        self._seen = -1
        self._checked = -math.inf
        self._last = _NEVER  # (sent, value) of the latest counter read, replaced as one tuple
        self._generation = 0  # moves on every clear: a load that raced with a clear is not kept
        self._lock = threading.Lock()
        self.on_change: list[Callable[[], None]] = []  # also told when another process changed something
        self.counter_reads = 0  # for tests and benchmarks
        # A read costs a round trip: the edge lets the requests dispatched together mark their arrival
        # before the first of them reads, so that one read serves them all.
        self.counter_round_trip = storage.counter_round_trip

    def _fresh(self) -> None:
        arrival = _arrival.get()
        last = self._last  # one tuple: its instant and value belong together whatever other threads do
        if arrival is not None and arrival < last[0]:
            counter = last[1]  # a read sent after this request arrived
        else:
            now = time.monotonic()
            if self._interval and now - self._checked < self._interval:
                return
            sent = _now()
            counter = self._storage.change_counter()
            self.counter_reads += 1
            self._checked = now
            with self._lock:
                if sent > self._last[0]:  # reads on other threads may finish out of order
                    self._last = (sent, counter)
        if counter != self._seen:
            with self._lock:
                self._entries.clear()
                self._generation += 1
                self._seen = counter
            for callback in self.on_change:
                callback()

    def get(self, key: tuple[str, ...], load: Callable[[], Any], *, keep_absent: bool = True) -> Any:
        self._fresh()
        try:
            value = self._entries[key]
            self._entries.move_to_end(key)
            return value
        except KeyError:
            pass
        generation = self._generation
        value = load()
        if value is None and not keep_absent:
            return None
        with self._lock:
            if generation == self._generation:  # else a clear ran during the load: the value may be stale
                self._entries[key] = value
                if len(self._entries) > self._max:
                    self._entries.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._generation += 1
            self._checked = -math.inf
            self._last = _NEVER

    def __len__(self) -> int:
        return len(self._entries)


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
    cache: RecordCache = field(init=False)
    script_runner: Any = None  # credo.scripting.ScriptRunner, when scripts are enabled
    extras: dict[str, Any] = field(default_factory=dict)
    auth_throttle: AuthThrottle = field(init=False)
    login_throttle: AuthThrottle = field(init=False)  # password grant: per (realm, username, source)

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        self.cache = RecordCache(self.storage)
        self.cache.on_change.append(self.keys.mark_stale)  # keys rotated by another process apply at once
        self.auth_throttle = auth_throttle(self.clock)
        self.login_throttle = auth_throttle(self.clock, what="password login", name="login")
        self._last_touch: dict[tuple[str, str], int] = {}

    def issuer(self, realm: Realm) -> str:
        return realm.settings.issuer or f"{self.base_url}{realm.url_path}"

    def realm(self, name: str) -> Realm:
        realm = self.cache.get(("realm", name), lambda: self.storage.realms.get(name))
        if realm is None:
            raise NotFound(f"realm {name} not found", description=f"Realm '{name}' does not exist.")
        return realm  # type: ignore[no-any-return]

    def client(self, realm: str, client_id: str) -> Client | None:
        """A client record, cached while it exists. An unknown id is read again on every lookup: that
        is what lets a new client (registered by any process) work at once although a creation moves
        no change counter and drops no cache entry."""
        return self.cache.get(("client", realm, client_id),  # type: ignore[no-any-return]
                              lambda: self.storage.clients.get(realm, client_id), keep_absent=False)

    def user(self, realm: str, user_id: str) -> User | None:
        """A user record, cached like clients (every user write moves the change counter)."""
        return self.cache.get(("user", realm, user_id),  # type: ignore[no-any-return]
                              lambda: self.storage.users.get(realm, user_id))

    def groups_of(self, realm: str, user_id: str) -> tuple[str, ...]:
        """The names of the groups a user belongs to, cached like clients (group writes move the counter)."""
        return self.cache.get(("groups_of", realm, user_id),  # type: ignore[no-any-return]
                              lambda: tuple(self.storage.groups.groups_of(realm, user_id)))

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

    def changed(self) -> None:
        """Call after this process changed or deleted a cached record (realm, client, user, group,
        policy, script), so its own cache drops stale entries. Not needed after creating a client."""
        self.cache.clear()

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
