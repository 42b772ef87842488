"""Group commit of the token endpoint's writes: every write durable before the answer, and cheap.

Two kinds of rows are written per token request: the audit event of every token exchange (allowed or
denied) and the record of every stateful (opaque) access token. Committed one by one that is a write
transaction per request: most of the request's database time, and on SQLite a few WAL pages per commit,
whose checkpoints then stall the server. Here the writes of all the requests handled in one event-loop
step are committed together, one transaction per kind, at the start of the next step, and each request
answers only after the commit of its own writes returned. So a response never leaves the server before
its token and audit record are in the database (the same guarantee as one commit per request), and if a
commit fails, every request of the batch fails with a 503 instead of answering with an unstored token or
unaudited. Nothing is held in memory across requests: the batch is only the writes of the requests that
are waiting for it, so there is no crash window and nothing to flush at shutdown.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request

from credo.domain.models import AuditEvent, TokenRecord
from credo.storage.protocols import Storage, StorageUnavailable


class GroupCommit:
    """The writes of one event loop's requests, committed once per loop step."""

    def __init__(self, storage: Storage, loop: asyncio.AbstractEventLoop) -> None:
        self.storage = storage
        self.loop = loop
        self._events: list[AuditEvent] = []
        self._tokens: list[TokenRecord] = []
        self._done: asyncio.Future[None] | None = None

    def add(self, write: AuditEvent | TokenRecord) -> asyncio.Future[None]:
        if self._done is None:
            self._done = self.loop.create_future()
            self.loop.call_soon(self._commit)
        if isinstance(write, TokenRecord):
            self._tokens.append(write)
        else:
            self._events.append(write)
        return self._done

    def _commit(self) -> None:
        events, tokens, done = self._events, self._tokens, self._done
        self._events, self._tokens, self._done = [], [], None
        assert done is not None
        try:
            # Tokens first: if the audit commit then fails, the stored tokens were never handed out.
            self.storage.tokens.add_many(tokens)
            self.storage.audit.add_many(events)
        except Exception as exc:  # every waiting request fails with it
            done.set_exception(exc)
        else:
            done.set_result(None)


class RequestWrites:
    """One request's write sink: its writes join the loop's group; `durable()` waits for their commit."""

    __slots__ = ("_done", "_group")

    def __init__(self, group: GroupCommit) -> None:
        self._group = group
        self._done: asyncio.Future[None] | None = None

    def __call__(self, write: AuditEvent | TokenRecord) -> None:
        self._done = self._group.add(write)

    async def durable(self) -> None:
        done = self._done
        if done is None:
            return
        if not done.done():
            # One bare yield: the commit was scheduled (call_soon) when the batch's first write came, so
            # it runs before this task resumes, in the same loop step; awaiting the future would cost
            # another step (its wake-up is scheduled only once the result is set).
            await asyncio.sleep(0)
        try:
            await done  # normally already done: no suspension
        except StorageUnavailable as exc:
            raise StorageUnavailable(str(exc)) from None  # a fresh error per request of the batch
        except Exception as exc:  # e.g. a token-hash collision: nothing of the batch was stored; retry
            raise StorageUnavailable(f"group commit failed: {type(exc).__name__}") from None


def request_writes(request: Request) -> RequestWrites:
    """A sink for this request, joined to the group of the running loop (one per app and loop)."""
    loop = asyncio.get_running_loop()
    state = request.app.state
    group: GroupCommit | None = getattr(state, "write_group", None)
    if group is None or group.loop is not loop:
        group = state.write_group = GroupCommit(state.services.storage, loop)
    return RequestWrites(group)
