"""Group commit of the token endpoint's audit events: every event durable, and cheap.

Every token exchange, allowed or denied, is audited. Committed one by one that is a write transaction
per request (most of an exchange's database time). Here the events of all the requests handled in one
event-loop step are committed together in one transaction at the start of the next step, and each
request answers only after the commit of its own events returned. So a response never leaves the
server before its audit record is in the database (the same guarantee as one commit per request), and
if that commit fails, every request of the batch fails with a 503 instead of answering unaudited.
Nothing is held in memory across requests: the batch is only the events of the requests that are
waiting for it, so there is no crash window and nothing to flush at shutdown.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request

from credo.domain.models import AuditEvent
from credo.storage.protocols import Storage, StorageUnavailable


class AuditGroupCommit:
    """The events of one event loop's requests, committed once per loop step."""

    def __init__(self, storage: Storage, loop: asyncio.AbstractEventLoop) -> None:
        self.storage = storage
        self.loop = loop
        self._events: list[AuditEvent] = []
        self._done: asyncio.Future[None] | None = None

    def add(self, event: AuditEvent) -> asyncio.Future[None]:
        if self._done is None:
            self._done = self.loop.create_future()
            self.loop.call_soon(self._commit)
        self._events.append(event)
        return self._done

    def _commit(self) -> None:
        events, done = self._events, self._done
        self._events, self._done = [], None
        assert done is not None
        try:
            self.storage.audit.add_many(events)
        except Exception as exc:  # every waiting request fails with it
            done.set_exception(exc)
        else:
            done.set_result(None)


class RequestAudit:
    """One request's audit sink: its events join the loop's group; `durable()` waits for their commit."""

    __slots__ = ("_done", "_group")

    def __init__(self, group: AuditGroupCommit) -> None:
        self._group = group
        self._done: asyncio.Future[None] | None = None

    def __call__(self, event: AuditEvent) -> None:
        self._done = self._group.add(event)

    async def durable(self) -> None:
        done = self._done
        if done is None:
            return
        if not done.done():
            # One bare yield: the commit was scheduled (call_soon) when the batch's first event came, so
            # it runs before this task resumes, in the same loop step; awaiting the future would cost
            # another step (its wake-up is scheduled only once the result is set).
            await asyncio.sleep(0)
        try:
            await done  # normally already done: no suspension
        except StorageUnavailable as exc:
            raise StorageUnavailable(str(exc)) from None  # a fresh error per request of the batch


def request_audit(request: Request) -> RequestAudit:
    """A sink for this request, joined to the group of the running loop (one per app and loop)."""
    loop = asyncio.get_running_loop()
    state = request.app.state
    group: AuditGroupCommit | None = getattr(state, "audit_group", None)
    if group is None or group.loop is not loop:
        group = state.audit_group = AuditGroupCommit(state.services.storage, loop)
    return RequestAudit(group)
