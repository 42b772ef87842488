"""Group commit of the token endpoint's audit events: every event durable, and cheap.

Every token exchange, allowed or denied, is audited. Committed one by one that is a write transaction
per request (most of an exchange's database time). Here the events of all the requests handled in one
event-loop step form a batch; each of those requests yields once, and the first of them to resume (at
the start of the next step) commits the whole batch in one transaction before it answers; the others
find it committed. So a response never leaves the server before its audit record is in the database
(the same guarantee as one commit per request), and if that commit fails, every request of the batch
fails with a 503 instead of answering unaudited. A request cancelled while it waits still commits the
batch if nobody has yet. Nothing is held in memory across requests: the batch is only the events of
the requests that are waiting for it, so there is no crash window and nothing to flush at shutdown.
(No future and no scheduled callback: the yield is the only event-loop work a batch costs.)
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request

from credo.domain.models import AuditEvent
from credo.storage.protocols import Storage, StorageUnavailable


class AuditBatch:
    """The events of one loop step's requests, and the outcome of their commit once it ran."""

    __slots__ = ("committed", "error", "events")

    def __init__(self) -> None:
        self.events: list[AuditEvent] = []
        self.committed = False
        self.error: Exception | None = None


class AuditGroupCommit:
    """The events of one event loop's requests, committed once per loop step."""

    def __init__(self, storage: Storage, loop: asyncio.AbstractEventLoop) -> None:
        self.storage = storage
        self.loop = loop
        self._open: AuditBatch | None = None  # the batch events join until it is committed

    def add(self, event: AuditEvent) -> AuditBatch:
        batch = self._open
        if batch is None:
            batch = self._open = AuditBatch()
        batch.events.append(event)
        return batch

    def commit(self, batch: AuditBatch) -> None:
        """Commit `batch` unless that was done already; later events start a new batch."""
        if batch.committed:
            return
        batch.committed = True
        if self._open is batch:
            self._open = None
        try:
            self.storage.audit.add_many(batch.events)
        except Exception as exc:  # every waiting request fails with it
            batch.error = exc


class RequestAudit:
    """One request's audit sink: its events join the loop's group; `durable()` waits for their commit."""

    __slots__ = ("_batch", "_group")

    def __init__(self, group: AuditGroupCommit) -> None:
        self._group = group
        self._batch: AuditBatch | None = None

    def __call__(self, event: AuditEvent) -> None:
        self._batch = self._group.add(event)

    async def durable(self) -> None:
        batch = self._batch
        if batch is None:
            return
        if not batch.committed:
            try:
                await asyncio.sleep(0)  # every request of this loop step adds its events meanwhile
            finally:
                self._group.commit(batch)  # first to resume (or to be cancelled): commit for all
        error = batch.error
        if error is None:
            return
        if isinstance(error, StorageUnavailable):
            raise StorageUnavailable(str(error)) from None  # a fresh error per request of the batch
        raise error


def request_audit(request: Request) -> RequestAudit:
    """A sink for this request, joined to the group of the running loop (one per app and loop)."""
    loop = asyncio.get_running_loop()
    state = request.app.state
    group: AuditGroupCommit | None = getattr(state, "audit_group", None)
    if group is None or group.loop is not loop:
        group = state.audit_group = AuditGroupCommit(state.services.storage, loop)
    return RequestAudit(group)
