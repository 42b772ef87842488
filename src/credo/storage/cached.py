"""A read-through cache in front of a storage backend: the records the hot path reads on every request
(realms, clients, users, group memberships, application policies) and the answers about burned one-time
ids (the revocation check of every introspection) are kept in process memory and stay exact.

`CachedStorage(inner)` has the shape of every storage (the `Storage` protocol). Its repositories serve
the cached reads from memory and pass everything else to `inner`:

- a write through this storage (any repository method that is not a read) drops every cached record once
  it returns, so this process sees its own changes at once, whoever wrote them (a use case, the admin
  API, an import): no caller has to remember to invalidate;
- a change made by another process is noticed through the storage's change counter (every write except
  a client creation and a registration token rotation moves it), read as `RecordCache` explains: a
  request sees every change committed before it arrived;
- a creation needs no invalidation: client lookups never remember an unknown id, so a client registered
  by any process is found at once;
- burned one-time ids (revocations, consumed initial access tokens, deletion marks) follow the same rule
  with the storage's burn counter, read in the same statement as the change counter: every burn and
  purge moves it, so a revocation made by any process is seen by the next request of every process. A
  burn through this storage (or a client created with one) drops only these answers, and a move of the
  burn counter only these; a move of the change counter drops everything;
- token records (opaque access tokens, codes, sessions) are kept beside those answers: a stored record
  never changes, and every deletion or purge of one moves the burn counter (in its own transaction), so a
  revoked, redeemed or rotated token is gone for the next request of every process. A missing token is
  never remembered (an issued token moves no counter).
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from typing import Any, cast

from cachetools import LRUCache

from credo.storage.protocols import (
    AwaitedWrites,
    ClientRepository,
    Conflict,
    GroupRepository,
    NewClient,
    OneTimeIds,
    PolicyRepository,
    RealmRepository,
    Storage,
    TokenRepository,
    UserRepository,
)

_arrival: ContextVar[int | None] = ContextVar("credo_request_arrival", default=None)
_now = time.monotonic_ns  # one clock for the whole process (all threads and event loops)
_NEVER = (-1, (-1, -1))  # (sent, counters) before the first counter read


def begin_request() -> None:
    """Mark the arrival of one request in the current context (an asyncio task per request).

    The public dispatcher calls it as the first step of every request. The cache then reads the change
    counter at most once for the request, and not at all when a read sent after the request arrived is
    known (see `RecordCache`): the request sees every change committed before it arrived, and changes
    made later by this process at once. Outside a marked request every lookup reads.
    """
    _arrival.set(_now())


class RecordCache:
    """A bounded LRU cache of records, exact against the storage's change counter, and beside it one of
    answers about burned one-time ids, exact against the burn counter (`Storage.counters`, one read).

    Entries are dropped when the change counter moves (any process writing to the same database bumps
    it), checked at most every `check_interval` seconds (0: on every lookup), and immediately when this
    process writes (`clear`). Burned-id answers are dropped with them, and also alone when the burn
    counter moves or this process burns (`clear_burned`). A lookup with `keep_absent=False` does not
    remember that a record is missing, so a record created later needs no invalidation.

    With `check_interval` 0 the check is exact without reading the counter for every request: the cache
    remembers its latest counter read and the clock instant taken just before that read was sent. A
    request that arrived strictly before that instant (`begin_request`) uses the remembered value, since
    every change committed before the request arrived was committed before the read was sent, so the
    read saw it. Any other lookup (a later request, or one outside a marked request) reads the counter.
    The comparison is strict, so two instants on one tick of a coarse clock never share a read.
    """

    def __init__(self, storage: Storage, max_entries: int = 100_000, check_interval: float = 0.0) -> None:
        self._storage = storage
        self._interval = check_interval
        self._entries: LRUCache[tuple[str, ...], Any] = LRUCache(maxsize=max(1, max_entries))
        self._burned: LRUCache[tuple[Any, ...], Any] = LRUCache(maxsize=max(1, max_entries))
        self._seen = (-1, -1)
        self._checked = -math.inf
        self._last: tuple[int, tuple[int, int]] = _NEVER  # (sent, counters) of the latest read, one tuple
        self._generation = 0  # moves on every clear: a load that raced with a clear is not kept
        self._lock = threading.Lock()
        self.on_change: list[Callable[[], None]] = []  # also told when another process changed something
        self.counter_reads = 0  # for tests and benchmarks
        self.hits = 0  # lookups answered from memory, and those that loaded (the operations metrics read them)
        self.misses = 0
        # Counter reads sent for requests without blocking their event loop (`read_after_arrival`): per loop,
        # the latest one started, as (sent, its task); at most one travels at a time.
        self._inflight: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[int, asyncio.Future[None]]] = \
            weakref.WeakKeyDictionary()

    async def read_after_arrival(self) -> None:
        """Make a counter read sent after this request arrived known, without blocking the event loop while
        it travels (for a storage whose counter is a round trip: `Storage.counters_awaited`). One read
        travels at a time per loop: a request shares the one in flight when it was sent after the request
        arrived; else it waits for that one to come back, and the first of the requests waiting sends the
        next read, for all of them (they all arrived before it). The lookups of the request then use it
        (`_fresh`: the same rule, the same remembered read). If a read fails, the request's first lookup
        reads again and answers the error."""
        arrival = _arrival.get()
        if arrival is None or self._interval:
            return
        loop = asyncio.get_running_loop()
        while arrival >= self._last[0]:
            inflight = self._inflight.get(loop)
            mine = inflight is None or inflight[1].done()
            if mine:
                sent = _now()
                inflight = self._inflight[loop] = (sent, loop.create_task(self._read_awaited(sent)))
            assert inflight is not None
            try:
                await asyncio.shield(inflight[1])
            except Exception:  # the request's own lookup reads again and fails with its own error
                return
            if mine or inflight[0] > arrival:
                return  # its value is known (`_last`), unless a later read already replaced it

    async def _read_awaited(self, sent: int) -> None:
        counter = await self._storage.counters_awaited()
        self.counter_reads += 1
        with self._lock:
            if sent > self._last[0]:
                self._last = (sent, counter)

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
            counter = self._storage.counters()
            self.counter_reads += 1
            self._checked = now
            with self._lock:
                if sent > self._last[0]:  # reads on other threads may finish out of order
                    self._last = (sent, counter)
        if counter != self._seen:
            records = counter[0] != self._seen[0]
            with self._lock:
                if records:
                    self._entries.clear()
                self._burned.clear()
                self._generation += 1
                self._seen = counter
            if records:
                for callback in self.on_change:
                    callback()

    def get(self, key: tuple[Any, ...], load: Callable[[], Any], *, keep_absent: bool = True,
            burned: bool = False) -> Any:
        """The cached value of `key` (a record, or with `burned` an answer about burned one-time ids)."""
        self._fresh()
        table = self._burned if burned else self._entries
        with self._lock:  # a hit reorders the LRU: not safe without the lock when threads share the cache
            try:
                found = table[key]
                self.hits += 1
                return found
            except KeyError:
                self.misses += 1
        generation = self._generation
        value = load()
        if value is None and not keep_absent:
            return None
        with self._lock:
            if generation == self._generation:  # else a clear ran during the load: the value may be stale
                table[key] = value  # the least recently used entry goes when full
        return value

    def clear(self) -> None:
        self._drop(self._entries, self._burned)

    def clear_burned(self) -> None:
        self._drop(self._burned)

    def _drop(self, *tables: LRUCache[Any, Any]) -> None:
        with self._lock:
            for table in tables:
                table.clear()
            self._generation += 1
            self._checked = -math.inf
            self._last = _NEVER

    def __len__(self) -> int:
        return len(self._entries)


# Per repository: the cached reads (method name -> whether a missing record is remembered) and the
# methods that are neither cached reads nor writes that change a cached record. Every other method is a
# write: it drops the cache once it returned.
_CACHED: dict[str, dict[str, bool]] = {
    "realms": {"get": True},
    # Never remember an unknown client id or resource: creations then need no invalidation (a resource
    # belongs to one client, so a creation cannot take one that a cached answer names).
    "clients": {"get": False, "by_resource": False},
    "users": {"get": True},
    "groups": {"groups_of": True},
    "policies": {"get": True},
    # Answers (True or False) about burned ids: `burned=True` entries, dropped when the burn counter moves.
    "one_time": {"is_burned": True, "any_burned": True},
    # Token records (opaque tokens, codes, sessions) never change once stored; every deletion and purge
    # moves the burn counter, so they live beside the burned-id answers. A missing one is never
    # remembered: a new token moves no counter.
    "tokens": {"get": False},
}
# Repositories whose cached reads and writes follow the burn counter only (the burned-id answers' table).
_BURNED = frozenset({"one_time", "tokens"})
# `current` reads past the cache; `swap_registration_token` writes only a client's registration token,
# which no cached read path uses (RFC 7592 reads it with `current`): an anonymous registrant reading its
# registration in a loop empties no cache, here or in any other process (it moves no change counter).
_PLAIN = frozenset({"all", "count", "search", "by_username", "for_agent", "last_used", "touch", "current",
                    "swap_registration_token", "of_realm"})
# Token creations change no cached answer (a missing token is never remembered): they drop nothing.
_TOKEN_CREATIONS = frozenset({"add", "add_many"})
# Creations change no cached record, but a creation that burns an initial access token changes what the
# burned-id answers say: they are dropped after one (whether it succeeded or not).
_CREATIONS: dict[str, Callable[..., bool]] = {
    "create": lambda *args, burn=None, **kwargs: burn is not None,
    "create_many": lambda items, *args, **kwargs: any(item.burn is not None for item in items),
}


class _CachedRepository:
    """One repository seen through the cache (see the module docstring)."""

    def __init__(self, name: str, inner: Any, cache: RecordCache) -> None:
        self._name = name
        self._inner = inner
        self._cache = cache
        self._cached = _CACHED[name]
        self._burned = name in _BURNED

    def __getattr__(self, method: str) -> Any:
        target = getattr(self._inner, method)
        if method in self._cached:
            key, keep_absent, load, burned = (self._name, method), self._cached[method], target, self._burned

            def read(*args: Any) -> Any:
                return self._cache.get((*key, *args), lambda: load(*args), keep_absent=keep_absent, burned=burned)
            wrapped: Any = read
        elif method in _PLAIN or not callable(target) or (self._name == "tokens" and method in _TOKEN_CREATIONS):
            wrapped = target
        elif self._name == "clients" and method in _CREATIONS:
            create, burns, clear_burned = target, _CREATIONS[method], self._cache.clear_burned

            def created(*args: Any, **kwargs: Any) -> Any:
                try:
                    return create(*args, **kwargs)
                finally:
                    if burns(*args, **kwargs):
                        clear_burned()
            wrapped = created
        else:
            write, clear = target, (self._cache.clear_burned if self._burned else self._cache.clear)

            def written(*args: Any, **kwargs: Any) -> Any:
                try:
                    return write(*args, **kwargs)
                finally:
                    clear()
            wrapped = written
        setattr(self, method, wrapped)  # resolved once per method
        return wrapped


class _CachedAwaitedWrites:
    """The awaited writes seen through the cache: the same rule as `_CREATIONS` and `_TOKEN_CREATIONS`."""

    def __init__(self, inner: AwaitedWrites, cache: RecordCache) -> None:
        self._inner = inner
        self._cache = cache
        self.add_tokens = inner.add_tokens  # token creations change no cached answer

    async def create_clients(self, new: Sequence[NewClient]) -> list[Conflict | None]:
        try:
            return await self._inner.create_clients(new)
        finally:
            if any(item.burn is not None for item in new):
                self._cache.clear_burned()

    async def create_client(self, one: NewClient) -> None:
        try:
            await self._inner.create_client(one)
        finally:
            if one.burn is not None:
                self._cache.clear_burned()


class CachedStorage:
    """`inner` with the hot records cached (see the module docstring); everything else passes through."""

    def __init__(self, inner: Storage, *, max_entries: int = 100_000, check_interval: float = 0.0) -> None:
        self.inner = inner
        self.cache = RecordCache(inner, max_entries, check_interval)
        self.realms = cast(RealmRepository, _CachedRepository("realms", inner.realms, self.cache))
        self.clients = cast(ClientRepository, _CachedRepository("clients", inner.clients, self.cache))
        self.users = cast(UserRepository, _CachedRepository("users", inner.users, self.cache))
        self.groups = cast(GroupRepository, _CachedRepository("groups", inner.groups, self.cache))
        self.policies = cast(PolicyRepository, _CachedRepository("policies", inner.policies, self.cache))
        self.one_time = cast(OneTimeIds, _CachedRepository("one_time", inner.one_time, self.cache))
        self.tokens = cast(TokenRepository, _CachedRepository("tokens", inner.tokens, self.cache))
        # Not cached: the same objects as the backend's (set here so the hot path pays no lookup detour).
        # Consents are read once per sign-in and no cached record depends on them: their reads go to the
        # backend and their writes clear nothing.
        self.scripts, self.keys = inner.scripts, inner.keys
        self.consents = inner.consents
        self.audit, self.admins, self.ephemeral = inner.audit, inner.admins, inner.ephemeral
        self.usage = inner.usage
        self.counter_round_trip, self.change_counter, self.counters, self.close = \
            inner.counter_round_trip, inner.change_counter, inner.counters, inner.close
        self.counters_awaited = inner.counters_awaited
        self.awaited_writes: AwaitedWrites | None = (None if inner.awaited_writes is None
                                                     else _CachedAwaitedWrites(inner.awaited_writes, self.cache))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)  # anything a backend has beyond the Storage shape
