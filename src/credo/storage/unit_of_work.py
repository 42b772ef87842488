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
(PostgreSQL: `Storage.awaited_writes`), the batch's commit is awaited on the event loop (the storage's
asynchronous connections): the loop goes on serving the next requests, whose units form the next batch
and commit beside it on another connection, and the waiting requests resume when their batch's commit
returned. At most COMMITS_AT_ONCE batches commit at once per loop; the batches of the next steps wait
together meanwhile, and the first commit to be free takes all of them into one transaction (one flush for
all of them, where one each would only queue behind the busy ones). On SQLite a commit costs microseconds
(the WAL is written, not flushed) and runs on the loop directly.

The commit itself is written once (`_commit_steps`: which rows go together, what is retried unit by unit
after a failure), as a generator of the writes it needs; `commit_units` makes them through the storage's
repositories, `commit_units_awaited` awaits them through `Storage.awaited_writes`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from credo.domain.models import AuditEvent, Client, TokenRecord
from credo.storage.protocols import AwaitedWrites, Conflict, NewClient, Storage, StorageUnavailable

T = TypeVar("T")

COMMITS_AT_ONCE = 4  # batches committing at once per event loop on a database server (a connection each)


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


# The writes a commit asks for: ("create_many", [NewClient, ...]) -> [Conflict | None, ...];
# ("create", NewClient) -> None; ("add", [TokenRecord, ...], [AuditEvent, ...]) -> None. A write that fails
# raises its error where the commit asked for it.
Write = tuple[Any, ...]
Steps = Generator[Write, Any, T]


def commit_units(storage: Storage, units: Sequence[UnitOfWork]) -> list[Outcome]:
    """Store `units` in two steps, each one transaction for the whole batch: the new clients (each with
    its burn and audit event, a savepoint each), then every other unit's tokens and audit events together
    (one commit: on PostgreSQL one log flush for the batch, not one for its tokens and one for its events).

    A step that fails for another reason than an unreachable database is retried unit by unit, so one
    unit whose rows cannot be stored fails alone (its outcome is the error) and the others are stored.
    An unreachable database (StorageUnavailable) fails the whole batch: it is raised."""
    commit = _Commit(units)
    while commit.write is not None:
        try:
            reply = _write(storage, commit.write)
        except Exception as exc:
            commit.answer(None, exc)
        else:
            commit.answer(reply)
    return commit.outcomes


async def commit_units_awaited(writes: AwaitedWrites, units: Sequence[UnitOfWork]) -> list[Outcome]:
    """`commit_units` with its writes awaited on the event loop."""
    commit = _Commit(units)
    while commit.write is not None:
        try:
            reply = await _write_awaited(writes, commit.write)
        except Exception as exc:
            commit.answer(None, exc)
        else:
            commit.answer(reply)
    return commit.outcomes


class _Commit:
    """One commit under way: the write `_commit_steps` asks for next (None once done, `outcomes` then set),
    and `answer` to give it that write's reply or the error it raised."""

    def __init__(self, units: Sequence[UnitOfWork]) -> None:
        self._steps = _commit_steps(units)
        self.write: Write | None = None
        self.outcomes: list[Outcome] = []
        self.answer(None)

    def answer(self, reply: Any, failure: Exception | None = None) -> None:
        try:
            self.write = self._steps.send(reply) if failure is None else self._steps.throw(failure)
        except StopIteration as done:
            self.write, self.outcomes = None, cast(list[Outcome], done.value)


def _write(storage: Storage, write: Write) -> Any:
    if write[0] == "create_many":
        return storage.clients.create_many(write[1])
    if write[0] == "create":
        one: NewClient = write[1]
        return storage.clients.create(one.client, burn=one.burn, audit=one.audit, max_dynamic=one.max_dynamic)
    return storage.tokens.add_many(write[1], audit=write[2])


async def _write_awaited(writes: AwaitedWrites, write: Write) -> Any:
    if write[0] == "create_many":
        return await writes.create_clients(write[1])
    if write[0] == "create":
        return await writes.create_client(write[1])
    return await writes.add_tokens(write[1], write[2])


def _commit_steps(units: Sequence[UnitOfWork]) -> Steps[list[Outcome]]:
    outcomes: list[Outcome] = [None] * len(units)
    creating = [i for i, unit in enumerate(units) if unit.client is not None]
    if creating:
        created = yield from _create_clients([units[i] for i in creating])
        for i, outcome in zip(creating, created, strict=True):
            outcomes[i] = outcome
    # A new client's event was stored with it; the other units' tokens and events now, together.
    live = [i for i, unit in enumerate(units) if outcomes[i] is None and unit.client is None and unit]
    stored = yield from _each_or_all([(units[i].tokens, units[i].events) for i in live])
    for i, outcome in zip(live, stored, strict=True):
        outcomes[i] = outcome
    return outcomes


def _each_or_all(rows: list[tuple[list[TokenRecord], list[AuditEvent]]]) -> Steps[list[Outcome]]:
    """Every unit's rows at once; if that fails (and the database is reachable), each unit's rows alone,
    so that only the units whose rows cannot be stored fail."""
    if not rows:
        return []
    try:
        yield ("add", [r for tokens, _ in rows for r in tokens], [e for _, events in rows for e in events])
        return [None] * len(rows)
    except StorageUnavailable:
        raise
    except Exception as exc:
        if len(rows) == 1:
            return [NotStored(exc)]
    outcomes: list[Outcome] = []
    for tokens, events in rows:
        try:
            yield ("add", tokens, events)
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


def _create_clients(units: list[UnitOfWork]) -> Steps[list[Outcome]]:
    new = [_new_client(unit) for unit in units]
    if len(new) > 1:
        try:
            return list((yield ("create_many", new)))
        except StorageUnavailable:
            raise
        except Exception:  # noqa: S110 - nothing of the batch was stored: each client on its own
            pass
    outcomes: list[Outcome] = []
    for one in new:
        outcomes.append((yield from _create(one)))
    return outcomes


def _new_client(unit: UnitOfWork) -> NewClient:
    assert unit.client is not None
    if len(unit.events) > 1 or unit.tokens:
        raise ValueError("a unit creating a client carries at most its one audit event and no token")
    return NewClient(unit.client, unit.burn, unit.events[0] if unit.events else None, unit.max_dynamic)


def _create(one: NewClient) -> Steps[Outcome]:
    try:
        yield ("create", one)
    except StorageUnavailable:
        raise
    except Exception as exc:  # a Conflict, or rows that cannot be stored
        return exc
    return None


class _Batch:
    """The units of one loop step's requests, and the outcome of their commit once it ran."""

    __slots__ = ("awaited", "committed", "error", "loop", "outcomes", "settled", "units", "waiters")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.units: list[UnitOfWork] = []
        self.committed = False  # the commit was started (and, when not awaited, has returned)
        self.awaited = False  # the commit is awaited: its requests wait for `settled`
        self.settled = False
        # One future per request waiting for an awaited commit (its own: a request cancelled meanwhile
        # cancels only its future, never the commit or the other requests' wait).
        self.waiters: list[asyncio.Future[None]] = []
        self.outcomes: list[Outcome] = []
        self.error: Exception | None = None


class GroupCommitter:
    """Units of work committed through `storage`, one commit per event-loop step (see the module docstring)."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self._writes = storage.awaited_writes
        # Per event loop: the batch units join until it is committed; the batches waiting for a commit (the
        # first commit to be free takes all of them); the commits under way.
        self._open: dict[asyncio.AbstractEventLoop, _Batch] = {}
        self._waiting: dict[asyncio.AbstractEventLoop, list[_Batch]] = {}
        self._running: dict[asyncio.AbstractEventLoop, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()  # the commits under way (kept: a task is weakly held)

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
        if batch.awaited and not batch.settled:
            waiter = batch.loop.create_future()
            batch.waiters.append(waiter)
            await waiter
        if batch.error is not None:  # the database was unreachable: every unit of the batch fails
            raise StorageUnavailable(str(batch.error)) from None  # a fresh error per request of the batch
        return _conflict_or_raise(batch.outcomes[index])

    def _commit(self, batch: _Batch) -> None:
        if batch.committed:
            return
        batch.committed = True
        loop = batch.loop
        if self._open.get(loop) is batch:
            del self._open[loop]
        if self._writes is None:
            self._settle([batch], self._outcomes(lambda units: commit_units(self.storage, units), [batch]))
            return
        batch.awaited = True
        self._waiting.setdefault(loop, []).append(batch)
        running = self._running.get(loop, 0)
        if running < COMMITS_AT_ONCE:
            self._running[loop] = running + 1
            task = loop.create_task(self._commit_waiting(loop, self._writes))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _commit_waiting(self, loop: asyncio.AbstractEventLoop, writes: AwaitedWrites) -> None:
        """One commit under way on `loop`: all the batches waiting, in one commit, as long as some wait."""
        try:
            while batches := self._waiting.pop(loop, []):
                units = [unit for batch in batches for unit in batch.units]
                try:
                    outcomes: list[Outcome] | Exception = await commit_units_awaited(writes, units)
                except Exception as exc:  # the database is unreachable (or a bug): every waiting request fails
                    outcomes = exc
                self._settle(batches, outcomes)
        finally:
            running = self._running.pop(loop, 1) - 1
            if running:
                self._running[loop] = running

    @staticmethod
    def _outcomes(commit: Callable[[list[UnitOfWork]], list[Outcome]], batches: list[_Batch]) -> list[Outcome] | Exception:
        try:
            return commit([unit for batch in batches for unit in batch.units])
        except Exception as exc:  # the database is unreachable (or a bug): every waiting request fails with it
            return exc

    @staticmethod
    def _settle(batches: list[_Batch], outcomes: list[Outcome] | Exception) -> None:
        start = 0
        for batch in batches:
            if isinstance(outcomes, Exception):
                batch.error = outcomes
            else:
                batch.outcomes = outcomes[start:start + len(batch.units)]
                start += len(batch.units)
            batch.settled = True
            for waiter in batch.waiters:
                if not waiter.done():  # a request cancelled meanwhile: nobody waits on it
                    waiter.set_result(None)


def _conflict_or_raise(outcome: Outcome) -> Conflict | None:
    """A unit's outcome as its request sees it: None (stored), the Conflict that undid it, or a 503 for rows
    that could not be stored (the detail goes to the log, not to the client)."""
    if outcome is None or isinstance(outcome, Conflict):
        return outcome
    raise StorageUnavailable(f"unit of work not stored: {type(outcome).__name__}") from outcome
