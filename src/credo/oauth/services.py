"""The ports the protocol core works with, bundled once by the composition root.

`storage` is usually a `credo.storage.cached.CachedStorage`: the realm, client, user, group and policy
reads below are then served from memory, exactly (the cache invalidates itself on its own writes and
through the change counter), so nothing here or in a use case has to invalidate anything."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cachetools import LRUCache

from credo.domain.clock import Clock
from credo.domain.errors import NotFound
from credo.domain.models import AuditEvent, Client, Realm, User, bounded_audit_event
from credo.keys.keyring import KeyRing
from credo.keys.remote_jwks import RemoteJson, RemoteJwks, parse_json_object
from credo.keys.secrets import SecretHasher
from credo.oauth.blocking import Blocking
from credo.oauth.throttle import AuditFloodGuard, AuthThrottle, RateLimiter, auth_throttle
from credo.scripting.api import ScriptRunner
from credo.storage.protocols import Conflict, EphemeralState, Storage
from credo.storage.unit_of_work import GroupCommitter, UnitOfWork

MAX_FAILURE_FLOOR = 0.5  # seconds: a failed authentication is never padded beyond this
_audit_counter = itertools.count()
_audit_prefix = str(uuid.uuid4())


DOCUMENT_BYTES = 5120  # a client metadata document: at most 5 KB
DOCUMENT_TIMEOUT = 2.0  # seconds for its DNS lookup, connection and read together
DOCUMENT_FAILURE_TTL = 10.0  # seconds a failed document fetch is remembered


def document_fetcher(*, tls: Any = None, unsafe_test_resolve: dict[str, str] | None = None,
                     clock: Callable[[], float] = time.monotonic) -> RemoteJson:
    """The fetcher of Client ID Metadata Documents: JSON objects of at most DOCUMENT_BYTES, cached for what
    their Cache-Control says within 1 minute and 1 day (5 minutes without the header)."""
    return RemoteJson(timeout=DOCUMENT_TIMEOUT, max_bytes=DOCUMENT_BYTES, ttl=300, parse=parse_json_object,
                      honour_cache_headers=True, min_ttl=60, max_ttl=86400, failure_ttl=DOCUMENT_FAILURE_TTL,
                      tls=tls, unsafe_test_resolve=unsafe_test_resolve, clock=clock,
                      user_agent="credo-client-metadata-fetcher")


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
    script_runner: ScriptRunner | None = None  # the DCR script engine, when scripts are enabled
    remote_jwks: RemoteJwks = field(default_factory=RemoteJwks)  # key sets behind jwks_uri (SSRF-guarded)
    # Client ID Metadata Documents (SSRF-guarded, cached per Cache-Control within bounds; see client_documents)
    client_documents: RemoteJson = field(default_factory=lambda: document_fetcher())
    registration_rate: RateLimiter = field(default_factory=RateLimiter)  # registrations per source and minute
    blocking: Blocking = field(default_factory=Blocking)  # where argon2, scripts and outbound fetches run
    audit_guard: AuditFloodGuard = field(default_factory=AuditFloodGuard)  # refusal events kept per minute
    # The ephemeral state every process shares (the throttles' failures, rate limits, the replay cache
    # `first_use`): the storage's own unless the server chose another (CREDO_EPHEMERAL_URL, app.py).
    ephemeral: EphemeralState = field(init=False)
    auth_throttle: AuthThrottle = field(init=False)
    login_throttle: AuthThrottle = field(init=False)  # password grant: per (realm, username, source)
    spray_throttle: AuthThrottle = field(init=False)  # password logins: per (realm, client, source), any username

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        self.ephemeral = self.storage.ephemeral
        self.auth_throttle = auth_throttle(self.clock)
        self.login_throttle = auth_throttle(self.clock, what="password login", name="login")
        self.spray_throttle = auth_throttle(self.clock, limit=100, identity_limit=500, what="password logins",
                                            name="spray")
        self._last_touch: LRUCache[tuple[str, str], int] = LRUCache(maxsize=100_000)  # last recorded use
        self._failure_floor: float | None = None  # seconds a failed argon2 verification takes (moving average)
        self._dummy_hash: str | None = None
        self.committer = GroupCommitter(self.storage)

    async def verify_secret(self, value: str, stored: str | None) -> bool:
        """`hasher.verify`, off the event loop when the stored hash is a slow one (argon2id): a generated
        secret's HMAC is checked at once. A failed slow verification (always a full argon2 run) is timed:
        it sets how long every failed authentication takes (`pad_failure`)."""
        if not self.hasher.is_slow(stored) or self.hasher.remembered(value, stored):
            return self.hasher.verify(value, stored)  # an HMAC comparison: no need to leave the loop
        start = time.perf_counter()
        ok = await self.blocking.run(self.hasher.verify, value, stored)
        if not ok:
            self._note_slow_failure(time.perf_counter() - start)
        return ok

    def _note_slow_failure(self, seconds: float) -> None:
        seconds = min(seconds, MAX_FAILURE_FLOOR)
        self._failure_floor = seconds if self._failure_floor is None else 0.8 * self._failure_floor + 0.2 * seconds

    async def pad_failure(self, started: float) -> None:
        """Make a failed authentication that started at `started` (time.perf_counter) take as long as a failed
        argon2 verification: an unknown client id, a generated secret and a human-chosen one then answer in
        the same time (no CPU is spent waiting). Measured once at the first need, then as failures come."""
        if self._failure_floor is None:
            if self._dummy_hash is None:
                self._dummy_hash = await self.blocking.run(self.hasher.hash_password, "credo-failure-floor")
            await self.verify_secret("not-the-password", self._dummy_hash)
        delay = (self._failure_floor or 0.0) - (time.perf_counter() - started)
        if delay > 0:
            await asyncio.sleep(delay)

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
        self._last_touch[key] = now
        self.storage.clients.touch(realm, client_id, now)

    def audit(self, event: AuditEvent) -> None:
        """Record one audit event now (administration; a request records its events in its unit of work)."""
        self.commit_now(UnitOfWork(events=[event]))

    def commit_now(self, work: UnitOfWork) -> Conflict | None:
        """Store a unit of work at once (outside an event loop: administration, the CLI)."""
        return self.committer.commit_now(self._stamped(work))

    async def commit(self, work: UnitOfWork) -> Conflict | None:
        """Store a request's unit of work with the others of this event-loop step (see GroupCommitter)."""
        if not work:
            return None  # most requests write nothing (a JWT issued, an introspection): no batch to join
        return await self.committer.commit(self._stamped(work))

    def _stamped(self, work: UnitOfWork) -> UnitOfWork:
        """Audit events get the time of the commit unless they carry their own, and are cut to the audit
        log's bounds (every event of every path passes here)."""
        if work.events:
            now = self.clock.now()
            work.events = [bounded_audit_event(e if e.ts else AuditEvent(**{**_fields(e), "ts": now}))
                           for e in self._unflooded(work.events, now)]
        return work

    def _unflooded(self, events: list[AuditEvent], now: int) -> list[AuditEvent]:
        """The events to store: refusals past the flood guard's limit are dropped and counted; a count
        left from an earlier minute is stored as one `<action>.suppressed` event."""
        kept: list[AuditEvent] = []
        for event in events:
            if event.decision != "deny":
                kept.append(event)
                continue
            keep, dropped, minute = self.audit_guard.admit(event.realm, event.action, now)
            if dropped:
                kept.append(AuditEvent(realm=event.realm, action=f"{event.action}.suppressed", actor="credo",
                                       decision="info", reason=f"{dropped} more refusals not recorded",
                                       details={"suppressed": dropped, "minute": minute}, ts=now))
            if keep:
                kept.append(event)
        return kept


def _fields(event: AuditEvent) -> dict[str, Any]:
    return {f: getattr(event, f) for f in event.__dataclass_fields__}
