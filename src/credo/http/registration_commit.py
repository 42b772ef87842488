"""Group commit of registrations: every new client durable before its 201, and one commit for many.

A registration's write (the client row, the burned initial-access-token id, the audit event) is most
of its cost, and most of a write is the commit. Here the registrations handled in one event-loop step
are stored in one transaction at the start of the next step (`clients.create_many`, a savepoint each),
and each request answers only after that commit returned. A conflict (an initial access token used
twice, a client id collision) fails only its own request; if the commit itself fails, every request of
the batch fails (503 when the database is unavailable). As with the audit group commit of the token
endpoint, nothing is held across requests: a batch is only the registrations waiting for it. A batch of
one is a plain `clients.create`.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request

from credo.storage.protocols import Conflict, NewClient, Storage, StorageUnavailable

Outcomes = list[Conflict | None]


class RegistrationGroupCommit:
    """The new clients of one event loop's requests, stored with one commit per loop step."""

    def __init__(self, storage: Storage, loop: asyncio.AbstractEventLoop) -> None:
        self.storage = storage
        self.loop = loop
        self._items: list[NewClient] = []
        self._done: asyncio.Future[Outcomes] | None = None

    def add(self, new: NewClient) -> tuple[asyncio.Future[Outcomes], int]:
        """The future of the batch `new` joined, and its place in the batch's outcomes."""
        if self._done is None:
            self._done = self.loop.create_future()
            self.loop.call_soon(self._commit)
        self._items.append(new)
        return self._done, len(self._items) - 1

    async def store(self, new: NewClient) -> Conflict | None:
        """Store `new` with the batch of this loop step: None once committed, or the Conflict that refused it."""
        done, index = self.add(new)
        if not done.done():
            # One bare yield: the commit was scheduled (call_soon) when the batch's first item came, so it
            # runs before this task resumes, in the same loop step (see credo.http.group_commit).
            await asyncio.sleep(0)
        try:
            outcomes = await done  # normally already done: no suspension
        except StorageUnavailable as exc:
            raise StorageUnavailable(str(exc)) from None  # a fresh error per request of the batch
        return outcomes[index]

    def _commit(self) -> None:
        items, done = self._items, self._done
        self._items, self._done = [], None
        assert done is not None
        try:
            outcomes = _store(self.storage, items)
        except Exception as exc:  # every waiting request fails with it
            done.set_exception(exc)
        else:
            done.set_result(outcomes)


def _store(storage: Storage, items: list[NewClient]) -> Outcomes:
    if len(items) > 1:
        return storage.clients.create_many(items)
    [new] = items
    try:
        storage.clients.create(new.client, burn=new.burn, audit=new.audit)
    except Conflict as exc:
        return [exc]
    return [None]


async def store_new_client(request: Request, new: NewClient) -> Conflict | None:
    """Store `new` with the other registrations of this loop step (one group per app and loop)."""
    loop = asyncio.get_running_loop()
    state = request.app.state
    group: RegistrationGroupCommit | None = getattr(state, "registration_group", None)
    if group is None or group.loop is not loop:
        group = state.registration_group = RegistrationGroupCommit(state.services.storage, loop)
    return await group.store(new)
