"""Group commit of the token endpoint's writes: every write durable before the answer, and cheap.

Two kinds of rows are written per token request: the audit event of every token exchange (allowed or
denied) and the record of every stateful (opaque) access token. Committed one by one that is a write
transaction per request: most of the request's database time, and on SQLite a few WAL pages per commit,
whose checkpoints then stall the server. Here the writes of all the requests handled in one event-loop
step form a batch; each of those requests yields once, and the first of them to resume (at the start of
the next step) commits the whole batch, one transaction per kind, before it answers; the others find it
committed. So a response never leaves the server before its token and audit record are in the database
(the same guarantee as one commit per request), and if a commit fails, every request of the batch fails
with a 503 instead of answering with an unstored token or unaudited. A request cancelled while it waits
still commits the batch if nobody has yet. Nothing is held in memory across requests: the batch is only
the writes of the requests that are waiting for it, so there is no crash window and nothing to flush at
shutdown. (No future and no scheduled callback: the yield is the only event-loop work a batch costs.)
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request

from credo.domain.models import AuditEvent, TokenRecord
from credo.storage.protocols import Storage, StorageUnavailable


class WriteBatch:
    """The writes of one loop step's requests, and the outcome of their commit once it ran."""

    __slots__ = ("committed", "error", "events", "tokens")

    def __init__(self) -> None:
        self.events: list[AuditEvent] = []
        self.tokens: list[TokenRecord] = []
        self.committed = False
        self.error: Exception | None = None


class GroupCommit:
    """The writes of one event loop's requests, committed once per loop step."""

    def __init__(self, storage: Storage, loop: asyncio.AbstractEventLoop) -> None:
        self.storage = storage
        self.loop = loop
        self._open: WriteBatch | None = None  # the batch writes join until it is committed

    def add(self, write: AuditEvent | TokenRecord) -> WriteBatch:
        batch = self._open
        if batch is None:
            batch = self._open = WriteBatch()
        if isinstance(write, TokenRecord):
            batch.tokens.append(write)
        else:
            batch.events.append(write)
        return batch

    def commit(self, batch: WriteBatch) -> None:
        """Commit `batch` unless that was done already; later writes start a new batch."""
        if batch.committed:
            return
        batch.committed = True
        if self._open is batch:
            self._open = None
        try:
            # Tokens first: if the audit commit then fails, the stored tokens were never handed out.
            self.storage.tokens.add_many(batch.tokens)
            self.storage.audit.add_many(batch.events)
        except Exception as exc:  # every waiting request fails with it
            batch.error = exc


class RequestWrites:
    """One request's write sink: its writes join the loop's group; `durable()` waits for their commit."""

    __slots__ = ("_batch", "_group")

    def __init__(self, group: GroupCommit) -> None:
        self._group = group
        self._batch: WriteBatch | None = None

    def __call__(self, write: AuditEvent | TokenRecord) -> None:
        self._batch = self._group.add(write)

    async def durable(self) -> None:
        batch = self._batch
        if batch is None:
            return
        if not batch.committed:
            try:
                await asyncio.sleep(0)  # every request of this loop step adds its writes meanwhile
            finally:
                self._group.commit(batch)  # first to resume (or to be cancelled): commit for all
        error = batch.error
        if error is None:
            return
        if isinstance(error, StorageUnavailable):
            raise StorageUnavailable(str(error)) from None  # a fresh error per request of the batch
        # e.g. a token-hash collision: nothing of the batch was stored; the client may retry
        raise StorageUnavailable(f"group commit failed: {type(error).__name__}") from None


def request_writes(request: Request) -> RequestWrites:
    """A sink for this request, joined to the group of the running loop (one per app and loop)."""
    loop = asyncio.get_running_loop()
    state = request.app.state
    group: GroupCommit | None = getattr(state, "write_group", None)
    if group is None or group.loop is not loop:
        group = state.write_group = GroupCommit(state.services.storage, loop)
    return RequestWrites(group)
