"""The unit of work: the writes of one request, stored together, and the group commit behind it.

The protocol core collects a request's writes in a `UnitOfWork` it is handed (new access and refresh
token records, audit events, at most one new client with the initial-access-token id it burns) and
commits it before it answers. A unit is all or nothing: a conflict (a client id or initial access token
already used) undoes that unit only and is returned to it; any other failure fails it.

`GroupCommitter` commits units through one storage, and commits the units of all the requests handled in
one event-loop step together: each request yields once, and the first of them to resume (at the start
of the next step), or to be cancelled, commits the whole batch (`commit_units`: one transaction for the
new clients, one for the tokens and audit events) before it answers; the others find it
committed. So no request answers before the commit that holds its writes returned; an unreachable
database fails every request of the batch (503), rows that cannot be stored fail only the request they
belong to (the batch step is retried unit by unit), and nothing is held across requests:
a batch is only the units of the requests waiting for it. Committed one by one, the commit would be most
of a token request's or a registration's database time (and on SQLite a few WAL pages each, whose
checkpoints stall the server). `commit_now` stores a unit at once, for callers outside an event loop
(administration, the CLI).

Where the commit is a round trip to a database server that flushes its log before it answers
(PostgreSQL: `Storage.counter_round_trip`; a few milliseconds for the fsync), the batch is committed on
one of a few commit threads instead of on the event loop: the loop goes on serving the next requests,
whose units form the next batch and commit beside it on another connection, and the waiting requests
resume when their batch's commit returned. When every commit thread is busy, the batches of the next
steps wait together, and the first thread to be free commits all of them in one transaction (one flush
for all of them, where one each would only queue behind the busy threads). On SQLite a commit costs microseconds (the WAL is written,
not flushed) and runs on the loop, as moving it to a thread would cost more than it takes.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

from credo.domain.models import AuditEvent, Client, TokenRecord
from credo.storage.protocols import Conflict, NewClient, Storage, StorageUnavailable

T = TypeVar("T")

COMMIT_THREADS = 4  # batches committing at once on a database server (each holds a connection meanwhile)


@dataclass(slots=True)
class UnitOfWork:
    """One request's writes, not yet stored."""

    tokens: list[TokenRecord] = field(default_factory=list)
    events: list[AuditEvent] = field(default_factory=list)
    client: Client | None = None
    burn: tuple[str, int] | None = None  # (one-time id, expires at) burned with the client
    max_dynamic: int | None = None  # the realm's limit of dynamic clients, checked when the client is stored

    def add_token(self, record: TokenRecord) -> None:
        self.tokens.append(record)

    def audit(self, event: AuditEvent) -> None:
        self.events.append(event)

    def create_client(self, client: Client, *, burn: tuple[str, int] | None = None,
                      max_dynamic: int | None = None) -> None:
        if self.client is not None:
            raise ValueError("one new client per unit of work")
        self.client, self.burn, self.max_dynamic = client, burn, max_dynamic

    def __bool__(self) -> bool:
        return bool(self.tokens or self.events or self.client)


Outcome = Exception | None  # None: stored; a Conflict: the new client's conflict undid it; else: not stored


def commit_units(storage: Storage, units: Sequence[UnitOfWork]) -> list[Outcome]:
    """Store `units` in two steps, each one transaction for the whole batch: the new clients (each with
    its burn and audit event, a savepoint each), then every other unit's tokens and audit events together
    (one commit: on PostgreSQL one log flush for the batch, not one for its tokens and one for its events).

    A step that fails for another reason than an unreachable database is retried unit by unit, so one
    unit whose rows cannot be stored fails alone (its outcome is the error) and the others are stored.
    An unreachable database (StorageUnavailable) fails the whole batch: it is raised."""
    outcomes: list[Outcome] = [None] * len(units)
    creating = [i for i, unit in enumerate(units) if unit.client is not None]
    if creating:
        for i, outcome in zip(creating, _create_clients(storage, [units[i] for i in creating]), strict=True):
            outcomes[i] = outcome
    # A new client's event was stored with it; the other units' tokens and events now, together.
    live = [i for i, unit in enumerate(units) if outcomes[i] is None and unit.client is None and unit]
    for i, outcome in zip(live, _each_or_all(storage, _store_rows, [(units[i].tokens, units[i].events) for i in live]),
                          strict=True):
        outcomes[i] = outcome
    return outcomes


def _store_rows(storage: Storage, rows: list[tuple[list[TokenRecord], list[AuditEvent]]]) -> None:
    storage.tokens.add_many([r for tokens, _ in rows for r in tokens], audit=[e for _, events in rows for e in events])


def _each_or_all(storage: Storage, step: Callable[[Storage, list[T]], None], rows: list[T]) -> list[Outcome]:
    """`step` on every unit's rows at once; if that fails (and the database is reachable), on each unit's
    rows alone, so that only the units whose rows cannot be stored fail."""
    if not rows:
        return []
    try:
        step(storage, rows)
        return [None] * len(rows)
    except StorageUnavailable:
        raise
    except Exception as exc:
        if len(rows) == 1:
            return [NotStored(exc)]
    outcomes: list[Outcome] = []
    for unit_rows in rows:
        try:
            step(storage, [unit_rows])
            outcomes.append(None)
        except StorageUnavailable:
            raise
        except Exception as exc:
            outcomes.append(NotStored(exc))
    return outcomes


class NotStored(Exception):
    """A unit's rows could not be stored (a token-hash collision, a value the database refuses)."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(type(cause).__name__)
        self.__cause__ = cause


def _create_clients(storage: Storage, units: list[UnitOfWork]) -> list[Outcome]:
    new = [_new_client(unit) for unit in units]
    if len(new) > 1:
        try:
            return list(storage.clients.create_many(new))
        except StorageUnavailable:
            raise
        except Exception:  # nothing of the batch was stored: each client on its own
            return [_create(storage, one) for one in new]
    return [_create(storage, one) for one in new]


def _new_client(unit: UnitOfWork) -> NewClient:
    assert unit.client is not None
    if len(unit.events) > 1 or unit.tokens:
        raise ValueError("a unit creating a client carries at most its one audit event and no token")
    return NewClient(unit.client, unit.burn, unit.events[0] if unit.events else None, unit.max_dynamic)


def _create(storage: Storage, one: NewClient) -> Outcome:
    try:
        storage.clients.create(one.client, burn=one.burn, audit=one.audit, max_dynamic=one.max_dynamic)
    except StorageUnavailable:
        raise
    except Exception as exc:  # a Conflict, or rows that cannot be stored
        return exc
    return None


class _Batch:
    """The units of one loop step's requests, and the outcome of their commit once it ran."""

    __slots__ = ("committed", "done", "error", "loop", "outcomes", "units")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.units: list[UnitOfWork] = []
        self.committed = False  # the commit was started (and, without a commit thread, has returned)
        self.done: asyncio.Future[None] | None = None  # with a commit thread: resolves once it returned
        self.outcomes: list[Outcome] = []
        self.error: Exception | None = None


class GroupCommitter:
    """Units of work committed through `storage`, one commit per event-loop step (see the module docstring)."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        # Per event loop (each serving thread has its own), the batch units join until it is committed.
        self._open: dict[asyncio.AbstractEventLoop, _Batch] = {}
        self._threads = (ThreadPoolExecutor(COMMIT_THREADS, thread_name_prefix="credo-commit")
                         if storage.counter_round_trip else None)
        # Batches handed to the commit threads and not yet taken by one: a thread that becomes free takes all
        # of them into one commit, so while every thread waits for a flush the next steps' batches add up.
        self._waiting: list[_Batch] = []
        self._waiting_lock = threading.Lock()

    def commit_now(self, unit: UnitOfWork) -> Conflict | None:
        return _conflict_or_raise(commit_units(self.storage, [unit])[0]) if unit else None

    async def commit(self, unit: UnitOfWork) -> Conflict | None:
        """Store `unit` with the units of this loop step: None once committed, or the Conflict that undid it."""
        if not unit:
            return None
        loop = asyncio.get_running_loop()
        batch = self._open.get(loop)
        if batch is None:
            batch = self._open[loop] = _Batch(loop)
        batch.units.append(unit)
        index = len(batch.units) - 1
        if not batch.committed:
            try:
                await asyncio.sleep(0)  # every request of this loop step adds its unit meanwhile
            finally:
                self._commit(batch)  # first to resume (or to be cancelled): commit for all
        if batch.done is not None:
            await asyncio.shield(batch.done)  # a waiter cancelled meanwhile leaves the commit running
        if batch.error is not None:  # the database was unreachable: every unit of the batch fails
            raise StorageUnavailable(str(batch.error)) from None  # a fresh error per request of the batch
        return _conflict_or_raise(batch.outcomes[index])

    def _commit(self, batch: _Batch) -> None:
        if batch.committed:
            return
        batch.committed = True
        if self._open.get(batch.loop) is batch:
            del self._open[batch.loop]
        if self._threads is None:
            self._store([batch])
        else:
            batch.done = batch.loop.create_future()
            with self._waiting_lock:
                self._waiting.append(batch)
            self._threads.submit(self._store_waiting)

    def _store_waiting(self) -> None:
        """On a commit thread: every batch waiting for one, in one commit (none if another thread took them)."""
        with self._waiting_lock:
            batches, self._waiting = self._waiting, []
        if batches:
            self._store(batches)

    def _store(self, batches: list[_Batch]) -> None:
        units = [unit for batch in batches for unit in batch.units]
        try:
            outcomes = commit_units(self.storage, units)
            error = None
        except Exception as exc:  # the database is unreachable (or a bug): every waiting request fails with it
            outcomes, error = [], exc
        start = 0
        for batch in batches:
            batch.outcomes, batch.error = outcomes[start:start + len(batch.units)], error
            start += len(batch.units)
            if batch.done is not None:
                try:
                    batch.loop.call_soon_threadsafe(_resolve, batch.done)
                except RuntimeError:  # the loop was closed meanwhile (shutdown): nobody waits
                    pass


def _resolve(done: asyncio.Future[None]) -> None:
    if not done.done():
        done.set_result(None)


def _conflict_or_raise(outcome: Outcome) -> Conflict | None:
    """A unit's outcome as its request sees it: None (stored), the Conflict that undid it, or a 503 for rows
    that could not be stored (the detail goes to the log, not to the client)."""
    if outcome is None or isinstance(outcome, Conflict):
        return outcome
    raise StorageUnavailable(f"unit of work not stored: {type(outcome).__name__}") from outcome
