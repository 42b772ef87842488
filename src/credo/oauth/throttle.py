"""Throttling of failed authentication, per (realm, claimed identity, source address): client
authentication (the identity is the client_id) and the password grant (the identity is the username).
`AuthThrottle` counts every failure twice: per source address (`limit` failures) and per identity
whatever the address (`identity_limit` failures), so guesses spread over many addresses are bounded too.
The source address is the socket's peer unless the operator trusts a proxy (`credo serve
--proxy-headers --forwarded-allow-ips ...`): a header the caller chooses never picks the key.

After `limit` failures within `window` seconds, further attempts for that key are refused with
`too_many_requests` (HTTP 429, Retry-After) until the oldest of those failures leaves the window, whether
or not the new attempt carries the right secret.

With a `FailureLog` (the server's `EphemeralState`: the database, or Redis), every process sharing it
shares the count:

- a failure is recorded in the log (under a keyed hash of the key: no identity, address or password is
  stored) and in this process's memory;
- a success costs nothing extra: a key this process knows no recent failure for is let through at once,
  without reading the log;
- a key with recent failures (its own, or another process's, learnt from the log) is checked against the
  log's count on every attempt, and once over the limit it is refused from memory until the window
  frees a slot;
- the process learns which keys other processes saw failures for by reading the log's new rows, at most
  every `sync_interval` seconds (0: before every check). Until then a process that has seen no failure
  for a key lets an attempt for it through; its first failure makes the key known at once. So with N
  processes an attacker gets at most limit + N - 1 guesses per window, and only by reaching each process
  within `sync_interval` of the other processes' failures.

An attempt is reserved before its secret is checked (`reserve`, or `AuthThrottle.attempt`): until it
is settled it counts as a failure, so concurrent guesses cannot all pass the check before the first of
them is recorded as failed. A successful attempt releases its reservation; a failed one becomes a failure.

The reservations themselves (attempts in flight) are this process's only: sharing them would cost a round
trip on every held attempt, success included, and a process that dies holding some would need leases to
release them. Each process bounds its own attempts in flight by the limit, so with N processes at most
N x limit guesses per key can be checked at once before the first of their failures is recorded (the
identity count bounds them too); sequential guesses stay bounded as above (SECURITY.md).

Without a log the counting is in this process only (each process counts separately). Memory is bounded:
at most `max_keys` keys are tracked, the least recently checked or failed key is dropped first.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from cachetools import LRUCache

from credo.domain.clock import Clock
from credo.domain.errors import TooManyRequests
from credo.storage.memory import MemoryEphemeral
from credo.storage.protocols import EphemeralState, FailureLog

ThrottleKey = tuple[str, str, str]
SYNC_BATCH = 1000  # log rows read per sync; more are read at the next check
DIGESTS_KEPT = 10_000  # digests of recently checked keys kept in memory


class _Entry:
    """What this process knows of one key: the newest failures (time, log row id; 0 when not logged),
    oldest first, and until when the log's count refuses the key."""

    __slots__ = ("blocked_until", "failures")

    def __init__(self) -> None:
        self.failures: list[tuple[int, int]] = []
        self.blocked_until = 0


def plain_key(text: str) -> str:
    return text


class FailureThrottle:
    def __init__(self, clock: Clock, *, limit: int = 10, window: int = 60, max_keys: int = 100_000,
                 what: str = "client authentication", log: FailureLog | None = None,
                 digest: Callable[[str], str] | None = None, sync_interval: float = 1.0,
                 name: str = "auth") -> None:
        if limit < 1 or window < 1 or max_keys < 1 or sync_interval < 0:
            raise ValueError("limit, window and max_keys must be positive, sync_interval not negative")
        if log is not None and digest is None:
            raise ValueError("a shared failure log needs a keyed digest (keys are never stored in the clear)")
        self._clock = clock
        self.limit = limit
        self.window = window
        self._what = what
        self._log = log
        self._digest = digest or plain_key
        self._name = name  # separates the keys of throttles sharing one log
        self.sync_interval = sync_interval
        self._known: LRUCache[str, _Entry] = LRUCache(maxsize=max_keys)  # the least recently seen key goes first
        self._digests: LRUCache[ThrottleKey, str] = LRUCache(maxsize=DIGESTS_KEPT)
        self._lock = threading.Lock()
        # Attempts reserved and not yet settled, per key: bounded by the requests in flight (a key whose
        # count drops to zero is removed), so a plain dict.
        self._in_flight: dict[str, int] = {}
        self._sync_lock = threading.Lock()
        self._next_sync = 0.0
        self._cursor = 0
        self._purged_at = 0

    def check(self, key: ThrottleKey) -> None:
        """Raise TooManyRequests if the key has used up its failures in the current window."""
        now = self._clock.now()
        if self._log is not None:
            self._sync(now)
        if not self._known:
            return  # no recent failure known for any key: nothing to look up
        k = self._key(key)
        with self._lock:
            entry = self._known.get(k)
            if entry is None:
                return
            self._expire(entry, now)
            if entry.blocked_until > now:
                self._refuse(key, entry.blocked_until - now)
            if len(entry.failures) >= self.limit:  # this process's failures alone reach the limit
                self._refuse(key, entry.failures[-self.limit][0] + self.window - now)
            if not entry.failures:
                del self._known[k]
                return
        if self._log is None:
            return
        times = self._log.recent(k, now - self.window, self.limit)  # newest first
        if len(times) >= self.limit:
            until = times[self.limit - 1] + self.window
            with self._lock:
                entry = self._known.get(k)
                if entry is not None:
                    entry.blocked_until = until
            self._refuse(key, until - now)

    def reserve(self, key: ThrottleKey) -> None:
        """check(), then hold one attempt for the key, counted as a failure until `settle` (refused when
        the key's failures and attempts in flight already reach the limit)."""
        self.check(key)
        k = self._key(key)
        with self._lock:
            entry = self._known.get(k)
            held = self._in_flight.get(k, 0)
            if (len(entry.failures) if entry is not None else 0) + held >= self.limit:
                self._refuse(key, 1)  # attempts in flight settle within a second or so
            self._in_flight[k] = held + 1

    def settle(self, key: ThrottleKey, *, failed: bool) -> None:
        """End a reserved attempt: recorded as a failure if it failed, released otherwise."""
        k = self._key(key)
        try:
            if failed:
                self.failed(key)
        finally:
            with self._lock:
                held = self._in_flight.pop(k, 0) - 1
                if held > 0:
                    self._in_flight[k] = held

    def failed(self, key: ThrottleKey) -> None:
        now = self._clock.now()
        k = self._key(key)
        row_id = 0
        try:
            if self._log is not None:
                row_id = self._log.add(k, now, now + self.window)
        finally:
            with self._lock:
                self._note(k, now, row_id)
        if self._log is not None and now - self._purged_at >= self.window:
            self._purged_at = now
            self._log.purge_expired(now)

    def __len__(self) -> int:
        return len(self._known)

    def _key(self, key: ThrottleKey) -> str:
        """The key's digest, remembered for the keys seen lately (a keyed hash costs about 2 us)."""
        with self._lock:
            k = self._digests.get(key)
        if k is None:
            realm, identity, source = key
            k = self._digest(f"throttle:{self._name}:{len(realm)}:{realm}:{len(identity)}:{identity}:{source}")
            with self._lock:
                self._digests[key] = k
        return k

    def _refuse(self, key: ThrottleKey, retry_after: int) -> None:
        raise TooManyRequests(f"{self._what} throttled for {key[1]!r}", retry_after=max(1, retry_after))

    def _note(self, k: str, at: int, row_id: int) -> None:
        """Remember one failure of key k (under self._lock); a log row already known is not counted twice."""
        entry = self._known.get(k) or _Entry()
        self._known[k] = entry  # now the most recently seen
        failures = entry.failures
        if not (row_id and any(i == row_id for _, i in failures)):
            failures.append((at, row_id))
            failures.sort()
            del failures[:-self.limit]

    def _sync(self, now: int) -> None:
        """Learn the failures other processes recorded since the last sync (at most every sync_interval)."""
        assert self._log is not None
        if time.monotonic() < self._next_sync or not self._sync_lock.acquire(blocking=False):
            return  # synced recently, or another thread is syncing right now
        try:
            rows = self._log.newer(self._cursor, now, SYNC_BATCH)
            self._next_sync = 0.0 if len(rows) == SYNC_BATCH else time.monotonic() + self.sync_interval
            if rows:
                with self._lock:
                    for row_id, k, at in rows:
                        self._note(k, at, row_id)
                    self._cursor = rows[-1][0]
        finally:
            self._sync_lock.release()

    def _expire(self, entry: _Entry, now: int) -> None:
        failures = entry.failures
        while failures and failures[0][0] <= now - self.window:
            failures.pop(0)


class AuthThrottle:
    """Failures counted per (realm, identity, source) and per (realm, identity) over all sources.

    The per-source count refuses one address that keeps failing, early (`limit`, default 10 a minute),
    without touching the identity's other callers. The per-identity count (`identity_limit`, higher)
    bounds the guesses an attacker spreading over many addresses gets for one account; reaching it
    refuses that identity from every address until the window frees a slot (the price of bounding
    distributed guessing: see SECURITY.md)."""

    def __init__(self, per_source: FailureThrottle, per_identity: FailureThrottle) -> None:
        self.per_source = per_source
        self.per_identity = per_identity
        self.limit = per_source.limit  # failures per source address within the window
        self.window = per_source.window

    def check(self, key: ThrottleKey) -> None:
        self.per_source.check(key)
        self.per_identity.check(_identity(key))

    def failed(self, key: ThrottleKey) -> None:
        try:
            self.per_source.failed(key)
        finally:
            self.per_identity.failed(_identity(key))

    @contextmanager
    def holding(self, key: ThrottleKey) -> Iterator[None]:
        """Hold one attempt for the key in both counts while the body runs (a check that waits), released
        at the end: the caller records a failure itself. Refused (429) when failures and attempts in flight
        already reach a limit."""
        self._reserve(key)
        try:
            yield
        finally:
            self._settle(key, failed=False)

    @contextmanager
    def attempt(self, key: ThrottleKey, refused: type[Exception]) -> Iterator[None]:
        """`holding` for a check whose failure this throttle records: the body raising `refused` turns the
        held attempt into a failure (recorded before the hold is released, so a concurrent attempt always
        sees one or the other), anything else releases it."""
        self._reserve(key)
        failed = False
        try:
            yield
        except refused:
            failed = True
            raise
        finally:
            self._settle(key, failed=failed)

    def _reserve(self, key: ThrottleKey) -> None:
        self.per_source.reserve(key)
        try:
            self.per_identity.reserve(_identity(key))
        except BaseException:
            self.per_source.settle(key, failed=False)
            raise

    def _settle(self, key: ThrottleKey, *, failed: bool) -> None:
        try:
            self.per_source.settle(key, failed=failed)
        finally:
            self.per_identity.settle(_identity(key), failed=failed)


def _identity(key: ThrottleKey) -> ThrottleKey:
    return key[0], key[1], "*"  # "*" is no address: the identity's count over every source


def auth_throttle(clock: Clock, *, limit: int = 10, identity_limit: int = 50, window: int = 60,
                  what: str = "client authentication", name: str = "auth", log: FailureLog | None = None,
                  digest: Callable[[str], str] | None = None, sync_interval: float = 1.0) -> AuthThrottle:
    """The two counts of one throttle, sharing one failure log under different names."""
    def make(n: str, lim: int) -> FailureThrottle:
        return FailureThrottle(clock, limit=lim, window=window, what=what, name=n, log=log, digest=digest,
                               sync_interval=sync_interval)
    return AuthThrottle(make(name, limit), make(f"{name}-identity", identity_limit))


class RateLimiter:
    """A sliding one-minute window per (realm, source address), counted in an `EphemeralState`: with the
    server's (the database, or Redis) every process shares the count, so N processes allow `limit` hits a
    minute in all, not N times that. Keys reach the state as keyed hashes (`digest`): no address is stored.
    Without a state, this process's memory (bounded: see MemoryEphemeral)."""

    WINDOW = 60

    def __init__(self, state: EphemeralState | None = None, digest: Callable[[str], str] | None = None) -> None:
        if state is not None and digest is None:
            raise ValueError("a shared rate limit needs a keyed digest (addresses are never stored in the clear)")
        self.state: EphemeralState = state if state is not None else MemoryEphemeral()
        self._digest = digest or plain_key

    def hit(self, key: tuple[str, str], limit: int, now: int) -> int:
        """0 if allowed (and counted); otherwise the seconds to wait."""
        realm, source = key
        return self.state.hit(self._digest(f"rate:{len(realm)}:{realm}:{source}"), limit, self.WINDOW, now)


@dataclass
class AuditFloodGuard:
    """Refusal events (`decision="deny"`) of one (realm, action) are kept up to `limit` a minute per
    process; past that they are counted, not stored, and the count is recorded as one `<action>.suppressed`
    event with the first refusal of that action after the minute. Outsiders (failed sign-ins with rotating usernames, a self-registered
    agent's refused exchanges) then cannot grow the audit log faster than `limit` rows a minute and action."""

    limit: int = 60
    max_keys: int = 10_000

    def __post_init__(self) -> None:
        self._windows: LRUCache[tuple[str, str], list[int]] = LRUCache(maxsize=self.max_keys)  # [minute, kept, dropped]
        self._lock = threading.Lock()

    def admit(self, realm: str, action: str, now: int) -> tuple[bool, int, int]:
        """(keep this event?, events dropped in the key's previous minute to report now, that minute)."""
        minute = now - now % 60
        with self._lock:
            window = self._windows.get((realm, action))
            report, reported_minute = 0, 0
            if window is None or window[0] != minute:
                if window is not None and window[2]:
                    report, reported_minute = window[2], window[0]
                window = self._windows[(realm, action)] = [minute, 0, 0]
            if window[1] < self.limit:
                window[1] += 1
                return True, report, reported_minute
            window[2] += 1
            return False, report, reported_minute
