"""Group commit of the token endpoint's writes: every write durable before the answer, and cheap.

Two kinds of rows are written per token request: the audit event of every token exchange (allowed or
denied) and the record of every stateful (opaque) access token. Committed one by one that is a write
transaction per request: most of the request's database time, and on SQLite a few WAL pages per commit,
whose checkpoints then stall the server. Here the writes of all the requests handled in one event-loop
step are committed together, one transaction per kind (the mechanism: credo.http.step_commit). So a
response never leaves the server before its token and audit record are in the database (the same
guarantee as one commit per request), and if a commit fails, every request of the batch fails with a 503
instead of answering with an unstored token or unaudited.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request

from credo.domain.models import AuditEvent, TokenRecord
from credo.http.step_commit import StepBatch, StepCommit
from credo.storage.protocols import Storage, StorageUnavailable

Write = AuditEvent | TokenRecord


class GroupCommit(StepCommit[Write, None]):
    """The writes of one event loop's requests, committed once per loop step."""

    def __init__(self, storage: Storage, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop, self._store)
        self.storage = storage

    def _store(self, writes: list[Write]) -> None:
        tokens = [w for w in writes if isinstance(w, TokenRecord)]
        events = [w for w in writes if not isinstance(w, TokenRecord)]
        try:
            # Tokens first: if the audit commit then fails, the stored tokens were never handed out.
            self.storage.tokens.add_many(tokens)
            self.storage.audit.add_many(events)
        except StorageUnavailable:
            raise
        except Exception as exc:  # e.g. a token-hash collision: nothing of the batch was stored; retry
            raise StorageUnavailable(f"group commit failed: {type(exc).__name__}") from exc


class RequestWrites:
    """One request's write sink: its writes join the loop's group; `durable()` waits for their commit."""

    __slots__ = ("_batch", "_group")

    def __init__(self, group: GroupCommit) -> None:
        self._group = group
        self._batch: StepBatch[Write, None] | None = None

    def __call__(self, write: Write) -> None:
        self._batch = self._group.add(write)

    async def durable(self) -> None:
        if self._batch is not None:
            await self._group.wait(self._batch)


def request_writes(request: Request) -> RequestWrites:
    """A sink for this request, joined to the group of the running loop (one per app and loop)."""
    loop = asyncio.get_running_loop()
    state = request.app.state
    group: GroupCommit | None = getattr(state, "write_group", None)
    if group is None or group.loop is not loop:
        group = state.write_group = GroupCommit(state.services.storage, loop)
    return RequestWrites(group)
