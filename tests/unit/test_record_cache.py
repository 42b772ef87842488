"""The record cache's change-counter rule: one counter read serves every request that arrived strictly
before it was sent; any other lookup reads again."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable
from typing import Any

import pytest

from credo.storage import cached as services_module
from credo.storage.cached import RecordCache, begin_request
from tests.support import run_async


class Clock:
    """A settable stand-in for the monotonic clock (nanoseconds); coarse on purpose: it only moves when told."""

    def __init__(self) -> None:
        self.t = 0

    def __call__(self) -> int:
        return self.t


class Counter:
    """A storage whose change counter another process bumps; counts the reads."""

    counter_round_trip = True

    def __init__(self) -> None:
        self.value = 0
        self.reads = 0
        self.before_read: Callable[[], None] | None = None
        self.threads: list[str] = []  # where each read ran
        self.awaited = 0  # awaited reads sent
        self.arrived = asyncio.Event()
        self.arrived.set()

    def counters(self) -> tuple[int, int]:
        if self.before_read is not None:
            self.before_read()
        self.reads += 1
        self.threads.append(threading.current_thread().name)
        return self.value, 0

    async def counters_awaited(self) -> tuple[int, int]:
        """The read a request awaits: it travels (the loop serves other requests meanwhile) until `arrived`
        is set, and answers the counter as it stood when the read was sent."""
        value = self.value
        self.awaited += 1
        await self.arrived.wait()
        self.reads += 1
        return value, 0


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(services_module, "_now", c)
    return c


def request(clock: Clock, at: int) -> contextvars.Context:
    """A new request's context, marked as arrived at `at`."""
    ctx = contextvars.copy_context()
    clock.t = at
    ctx.run(begin_request)
    return ctx


def lookup(ctx: contextvars.Context, cache: RecordCache, key: str = "k", value: Any = "v") -> Any:
    return ctx.run(cache.get, ("client", key), lambda: value)


def test_a_request_arrived_before_the_last_read_reuses_it(clock: Clock) -> None:
    storage = Counter()
    cache = RecordCache(storage)  # type: ignore[arg-type]
    early = request(clock, 5)
    first = request(clock, 10)
    clock.t = 20
    lookup(first, cache)  # sent at 20
    assert storage.reads == 1
    lookup(early, cache)
    lookup(request(clock, 19), cache)
    lookup(first, cache)
    assert storage.reads == 1


def test_a_request_arrived_after_the_last_read_reads_again_and_sees_the_change(clock: Clock) -> None:
    storage = Counter()
    cache = RecordCache(storage)  # type: ignore[arg-type]
    lookup(request(clock, 10), cache, value="old")  # read sent at 10, "old" cached
    storage.value += 1  # another process changes the record and commits at 11
    late = request(clock, 12)
    clock.t = 13
    assert lookup(late, cache, value="new") == "new"
    assert storage.reads == 2


def test_a_request_arrived_on_the_same_tick_as_the_read_reads_again(clock: Clock) -> None:
    """With a coarse clock a change can be committed and a request arrive after a read on the same tick:
    equal instants never share a read."""
    storage = Counter()
    cache = RecordCache(storage)  # type: ignore[arg-type]
    lookup(request(clock, 10), cache, value="old")  # sent at 10
    storage.value += 1  # committed after that read, still at 10
    same_tick = request(clock, 10)
    assert lookup(same_tick, cache, value="new") == "new"
    assert storage.reads == 2
    assert lookup(same_tick, cache, value="newer") == "new"  # its own read was sent on its arrival tick: reads again
    assert storage.reads == 3


def test_lookups_outside_a_request_always_read(clock: Clock) -> None:
    storage = Counter()
    cache = RecordCache(storage)  # type: ignore[arg-type]
    clock.t = 10
    lookup(contextvars.copy_context(), cache)
    clock.t = 11
    lookup(contextvars.copy_context(), cache)
    assert storage.reads == 2


def test_a_local_write_forgets_the_remembered_read(clock: Clock) -> None:
    storage = Counter()
    cache = RecordCache(storage)  # type: ignore[arg-type]
    waiting = request(clock, 5)
    other = request(clock, 6)
    clock.t = 10
    lookup(other, cache, value="old")
    storage.value += 1
    cache.clear()  # what a write through CachedStorage does
    assert lookup(waiting, cache, value="new") == "new"
    assert storage.reads == 2


def test_a_read_that_finishes_late_does_not_replace_a_later_one(clock: Clock) -> None:
    """Reads on two threads: the one sent first finishes last. The remembered read stays the later one, so
    a request that arrived between the two sends still reuses it."""
    storage = Counter()
    cache = RecordCache(storage)  # type: ignore[arg-type]
    started, release = threading.Event(), threading.Event()

    def slow() -> None:
        if threading.current_thread() is not threading.main_thread():
            started.set()
            release.wait(5)

    storage.before_read = slow
    slow_request = request(clock, 1)
    clock.t = 5
    thread = threading.Thread(target=lookup, args=(slow_request, cache))
    thread.start()  # sent at 5, waits
    assert started.wait(5)
    between = request(clock, 6)
    clock.t = 7
    lookup(between, cache)  # arrived at 6, after the slow read was sent: reads, sent at 7
    release.set()
    thread.join(5)
    assert storage.reads == 2
    lookup(request(clock, 6), cache)
    assert storage.reads == 2  # 6 < 7: the read sent at 7 serves it


def test_a_load_that_raced_with_a_clear_is_not_kept(clock: Clock) -> None:
    storage = Counter()
    cache = RecordCache(storage)  # type: ignore[arg-type]
    ctx = request(clock, 1)
    clock.t = 2

    def load_then_other_thread_clears() -> str:
        cache.clear()  # another thread's write lands while this load is under way
        return "stale"

    assert ctx.run(cache.get, ("client", "k"), load_then_other_thread_clears) == "stale"
    assert ctx.run(cache.get, ("client", "k"), lambda: "fresh") == "fresh"


def test_check_interval_still_limits_reads(clock: Clock) -> None:
    storage = Counter()
    cache = RecordCache(storage, check_interval=3600)  # type: ignore[arg-type]
    for t in (1, 10, 20):
        lookup(request(clock, t), cache)
        lookup(contextvars.copy_context(), cache)
    assert storage.reads == 1
    cache.clear()
    lookup(contextvars.copy_context(), cache)
    assert storage.reads == 2


def test_requests_of_one_step_share_an_awaited_read_and_later_arrivals_send_another(clock: Clock) -> None:
    """`read_after_arrival` (PostgreSQL): the requests that arrived before a read was sent share it (awaited
    on the loop, which serves meanwhile), and their lookups then read nothing more; a request that arrived
    at or after that send gets a read of its own, which sees a change committed in between."""
    storage = Counter()
    cache = RecordCache(storage)  # type: ignore[arg-type]

    async def run() -> None:
        first, second = request(clock, 10), request(clock, 11)
        clock.t = 12  # the read is sent at 12
        answers = await asyncio.gather(arrive(cache, first, "old"), arrive(cache, second, "other"))
        assert answers[0] == answers[1] and storage.reads == 1  # one read, then one load, cached for the other
        storage.value += 1  # another process commits at 12
        late = request(clock, 12)  # arrived on the tick of the send: may not use that read
        clock.t = 13
        assert await arrive(cache, late, "new") == "new"  # its own read saw the change: the cache was dropped
        assert storage.reads == 2
        assert lookup(request(clock, 12), cache, value="newer") == "new"  # arrived before 13: shares, keeps
        assert storage.reads == 2 and storage.threads == []  # no read was made off the awaited path

    run_async(run())


async def arrive(cache: RecordCache, ctx: contextvars.Context, value: str) -> Any:
    await asyncio.get_running_loop().create_task(cache.read_after_arrival(), context=ctx)
    return lookup(ctx, cache, value=value)


def test_one_read_travels_at_a_time_and_the_requests_that_came_meanwhile_share_the_next(clock: Clock) -> None:
    """A request that arrives while a read sent before it travels waits for that read, then one read is
    sent for all the requests that came meanwhile: it sees a change committed while the first travelled."""
    storage = Counter()
    cache = RecordCache(storage)  # type: ignore[arg-type]

    async def run() -> None:
        storage.arrived.clear()
        arrived = request(clock, 1)
        clock.t = 2
        first = asyncio.create_task(arrive(cache, arrived, "old"))  # its read is sent at 2
        for _ in range(3):
            await asyncio.sleep(0)
        assert storage.awaited == 1
        storage.value += 1  # another process commits while that read travels
        waiting = [asyncio.create_task(arrive(cache, request(clock, t), "new")) for t in (3, 4, 5)]
        clock.t = 6
        for _ in range(3):
            await asyncio.sleep(0)
        assert storage.awaited == 1  # no second read travels beside the first
        storage.arrived.set()
        assert await first == "old"
        assert await asyncio.gather(*waiting) == ["new", "new", "new"]  # the next read saw the commit
        assert storage.awaited == 2 and storage.reads == 2  # one read for the three of them
        assert storage.threads == []  # and no lookup had to read again

    run_async(run())
