"""The unit of work: the writes of one request, stored together, and the group commit behind it.

The protocol core collects a request's writes in a `UnitOfWork` it is handed (new access and refresh
token records, audit events, at most one new client with the initial-access-token id it burns) and
commits it before it answers. A unit is all or nothing: a conflict (a client id or initial access token
already used) undoes that unit only and is returned to it; any other failure fails it.

`GroupCommitter` commits units through one storage, and commits the units of all the requests handled in
one event-loop step together: each request yields once, and the first of them to resume (at the start
of the next step), or to be cancelled, commits the whole batch (`commit_units`: one transaction for the
new clients, one for the tokens, one for the audit events) before it answers; the others find it
committed. So no request answers before the commit that holds its writes returned, a failed commit fails
every request of the batch (503 when the database is unavailable), and nothing is held across requests:
a batch is only the units of the requests waiting for it. Committed one by one, the commit would be most
of a token request's or a registration's database time (and on SQLite a few WAL pages each, whose
checkpoints stall the server). `commit_now` stores a unit at once, for callers outside an event loop
(administration, the CLI).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

from credo.domain.models import AuditEvent, Client, TokenRecord
from credo.storage.protocols import Conflict, NewClient, Storage, StorageUnavailable


@dataclass(slots=True)
class UnitOfWork:
    """One request's writes, not yet stored."""

    tokens: list[TokenRecord] = field(default_factory=list)
    events: list[AuditEvent] = field(default_factory=list)
    client: Client | None = None
    burn: tuple[str, int] | None = None  # (one-time id, expires at) burned with the client

    def add_token(self, record: TokenRecord) -> None:
        self.tokens.append(record)

    def audit(self, event: AuditEvent) -> None:
        self.events.append(event)

    def create_client(self, client: Client, *, burn: tuple[str, int] | None = None) -> None:
        if self.client is not None:
            raise ValueError("one new client per unit of work")
        self.client, self.burn = client, burn

    def __bool__(self) -> bool:
        return bool(self.tokens or self.events or self.client)


Outcome = Conflict | None


def commit_units(storage: Storage, units: Sequence[UnitOfWork]) -> list[Outcome]:
    """Store `units`: the new clients (each with its burn and audit events, a savepoint each) in one
    transaction, then every token in one, then every other audit event in one. Tokens go before events:
    if the audit commit then fails, the stored tokens were never handed out."""
    outcomes: list[Outcome] = [None] * len(units)
    creating = [i for i, unit in enumerate(units) if unit.client is not None]
    if creating:
        for i, conflict in zip(creating, _create_clients(storage, [units[i] for i in creating]), strict=True):
            outcomes[i] = conflict
    stored = [unit for unit, outcome in zip(units, outcomes, strict=True) if outcome is None]
    tokens = [token for unit in stored for token in unit.tokens]
    events = [event for unit in stored if unit.client is None for event in unit.events]
    try:
        if tokens:
            storage.tokens.add_many(tokens)
        if events:
            storage.audit.add_many(events)
    except StorageUnavailable:
        raise
    except Exception as exc:  # e.g. a token-hash collision: nothing of the batch was stored; retry
        raise StorageUnavailable(f"group commit failed: {type(exc).__name__}") from exc
    return outcomes


def _create_clients(storage: Storage, units: list[UnitOfWork]) -> list[Outcome]:
    new = []
    for unit in units:
        assert unit.client is not None
        if len(unit.events) > 1:
            raise ValueError("a unit creating a client carries at most its one audit event")
        new.append(NewClient(unit.client, unit.burn, unit.events[0] if unit.events else None))
    if len(new) > 1:
        return storage.clients.create_many(new)
    [one] = new
    try:
        storage.clients.create(one.client, burn=one.burn, audit=one.audit)
    except Conflict as exc:
        return [exc]
    return [None]


class _Batch:
    """The units of one loop step's requests, and the outcome of their commit once it ran."""

    __slots__ = ("committed", "error", "loop", "outcomes", "units")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.units: list[UnitOfWork] = []
        self.committed = False
        self.outcomes: list[Outcome] = []
        self.error: Exception | None = None


class GroupCommitter:
    """Units of work committed through `storage`, one commit per event-loop step (see the module docstring)."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        # Per event loop (each serving thread has its own), the batch units join until it is committed.
        self._open: dict[asyncio.AbstractEventLoop, _Batch] = {}

    def commit_now(self, unit: UnitOfWork) -> Outcome:
        return commit_units(self.storage, [unit])[0] if unit else None

    async def commit(self, unit: UnitOfWork) -> Outcome:
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
        if batch.error is None:
            return batch.outcomes[index]
        if isinstance(batch.error, StorageUnavailable):
            raise StorageUnavailable(str(batch.error)) from None  # a fresh error per request of the batch
        raise batch.error

    def _commit(self, batch: _Batch) -> None:
        if batch.committed:
            return
        batch.committed = True
        if self._open.get(batch.loop) is batch:
            del self._open[batch.loop]
        try:
            batch.outcomes = commit_units(self.storage, batch.units)
        except Exception as exc:  # every waiting request fails with it
            batch.error = exc
