"""The one mechanism behind the group commits (token writes, registrations): the writes of all the
requests handled in one event-loop step form a batch; each of those requests yields once, and the first
of them to resume (at the start of the next step), or to be cancelled, commits the whole batch before it
answers; the others find it committed. No request answers before the commit that holds its writes
returned, and a failed commit fails every request of the batch. Nothing is held across requests: a
batch is only the writes of the requests waiting for it. (No future and no scheduled callback: the yield
is the only event-loop work a batch costs.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Generic, TypeVar

from credo.storage.protocols import StorageUnavailable

T = TypeVar("T")
Out = TypeVar("Out")


class StepBatch(Generic[T, Out]):
    """The items of one loop step's requests, and the outcome of their commit once it ran."""

    __slots__ = ("committed", "error", "items", "outcome")

    def __init__(self) -> None:
        self.items: list[T] = []
        self.committed = False
        self.outcome: Out | None = None
        self.error: Exception | None = None


class StepCommit(Generic[T, Out]):
    """Items added during one loop step, committed together by `commit_items`."""

    def __init__(self, loop: asyncio.AbstractEventLoop, commit_items: Callable[[list[T]], Out]) -> None:
        self.loop = loop
        self._commit_items = commit_items
        self._open: StepBatch[T, Out] | None = None  # the batch items join until it is committed

    def add(self, item: T) -> StepBatch[T, Out]:
        batch = self._open
        if batch is None:
            batch = self._open = StepBatch()
        batch.items.append(item)
        return batch

    def commit(self, batch: StepBatch[T, Out]) -> None:
        """Commit `batch` unless that was done already; later items start a new batch."""
        if batch.committed:
            return
        batch.committed = True
        if self._open is batch:
            self._open = None
        try:
            batch.outcome = self._commit_items(batch.items)
        except Exception as exc:  # every waiting request fails with it
            batch.error = exc

    async def wait(self, batch: StepBatch[T, Out]) -> Out | None:
        """The batch's outcome once committed (by this request if it resumes first)."""
        if not batch.committed:
            try:
                await asyncio.sleep(0)  # every request of this loop step adds its items meanwhile
            finally:
                self.commit(batch)  # first to resume (or to be cancelled): commit for all
        error = batch.error
        if error is None:
            return batch.outcome
        if isinstance(error, StorageUnavailable):
            raise StorageUnavailable(str(error)) from None  # a fresh error per request of the batch
        raise error
