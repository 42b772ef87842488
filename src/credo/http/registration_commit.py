"""Group commit of registrations: every new client durable before its 201, and one commit for many.

A registration's write (the client row, the burned initial-access-token id, the audit event) is most
of its cost, and most of a write is the commit. Here the registrations handled in one event-loop step
are stored in one transaction (`clients.create_many`, a savepoint each; the mechanism is
credo.http.step_commit), and each request answers only after that commit returned. A conflict (an initial access token used
twice, a client id collision) fails only its own request; if the commit itself fails, every request of
the batch fails (503 when the database is unavailable). As with the audit group commit of the token
endpoint, nothing is held across requests: a batch is only the registrations waiting for it. A batch of
one is a plain `clients.create`.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request

from credo.http.step_commit import StepCommit
from credo.storage.protocols import Conflict, NewClient, Storage

Outcomes = list[Conflict | None]


class RegistrationGroupCommit(StepCommit[NewClient, Outcomes]):
    """The new clients of one event loop's requests, stored with one commit per loop step."""

    def __init__(self, storage: Storage, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop, lambda items: _store(storage, items))
        self.storage = storage

    async def store(self, new: NewClient) -> Conflict | None:
        """Store `new` with the batch of this loop step: None once committed, or the Conflict that refused it."""
        batch = self.add(new)
        index = len(batch.items) - 1
        outcomes = await self.wait(batch)
        assert outcomes is not None
        return outcomes[index]


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
