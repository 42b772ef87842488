"""EphemeralState (rate-limit hits, the replay cache, failures) on every implementation: memory, SQLite,
PostgreSQL and Redis. "Two instances" are two independent connections to one database or one Redis (two
processes' view); memory is one process, so its two instances are one object."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from credo.storage.protocols import EphemeralState
from credo.storage.redis_state import RedisEphemeral
from credo.storage.sql.engine import make_engine
from credo.storage.sql.store import SqlStorage
from tests.conftest import PG_SKIP
from tests.support import REDIS_URL, make_storage, redis_prefix, redis_reachable, remove_redis_keys, run_async

REDIS_SKIP = redis_reachable()
T = 1_000_000
Pair = tuple[EphemeralState, Callable[[], EphemeralState]]


def _param(kind: str) -> object:
    marks: list[pytest.MarkDecorator] = []
    if kind == "postgres":
        marks = [pytest.mark.postgres, pytest.mark.skipif(PG_SKIP is not None, reason=PG_SKIP or "")]
    if kind == "redis":
        marks = [pytest.mark.skipif(REDIS_SKIP is not None, reason=REDIS_SKIP or "")]
    return pytest.param(kind, marks=marks, id=kind)


@pytest.fixture(params=[_param(k) for k in ("memory", "sqlite", "postgres", "redis")])
def states(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Pair]:
    """One implementation, and a way to open a second instance over the same shared state."""
    if request.param == "redis":
        prefix = redis_prefix()
        opened: list[RedisEphemeral] = []

        def open_redis() -> EphemeralState:
            opened.append(RedisEphemeral(REDIS_URL, prefix=prefix))
            return opened[-1]
        try:
            yield open_redis(), open_redis
        finally:
            for state in opened:
                state.close()
            remove_redis_keys(prefix)
        return
    with make_storage(request.param, tmp_path) as storage:
        if request.param == "memory":
            yield storage.ephemeral, lambda: storage.ephemeral
            return
        assert isinstance(storage, SqlStorage)
        others: list[SqlStorage] = []

        def open_sql() -> EphemeralState:
            others.append(SqlStorage(make_engine(storage.engine.url.render_as_string(hide_password=False))))
            return others[-1].ephemeral
        try:
            yield storage.ephemeral, open_sql
        finally:
            for other in others:
                other.close()


def _together(n: int, work: Callable[[int], None]) -> None:
    """Run work(0..n-1) on n threads started together; re-raise the first error."""
    errors: list[BaseException] = []
    start = threading.Barrier(n)

    def run(i: int) -> None:
        try:
            start.wait()
            work(i)
        except BaseException as exc:  # reported below
            errors.append(exc)
    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


# --- rate limits ----------------------------------------------------------------------------------------

def test_hits_are_counted_in_a_sliding_window(states: Pair) -> None:
    state, _ = states
    assert [state.hit("k", 3, 60, at) for at in (T, T + 10, T + 20)] == [0, 0, 0]
    assert state.hit("k", 3, 60, T + 30) == 30  # until the oldest (T) leaves the window
    assert state.hit("k", 3, 60, T + 59) == 1
    assert state.hit("k", 3, 60, T + 60) == 0  # T left: counted (T+10, T+20, T+60)
    assert state.hit("k", 3, 60, T + 60) == 10
    assert state.hit("other", 3, 60, T + 60) == 0  # keys are counted apart
    assert state.hit("k", 1, 5, T + 200) == 0  # everything before T+195 has left a 5-second window


def test_a_refused_hit_is_not_counted(states: Pair) -> None:
    state, _ = states
    assert state.hit("k", 1, 60, T) == 0
    for at in range(T + 1, T + 60):
        assert state.hit("k", 1, 60, at) > 0
    assert state.hit("k", 1, 60, T + 60) == 0  # only the first hit was counted


def test_hits_from_two_instances_share_one_count(states: Pair) -> None:
    one, open_other = states
    two = open_other()
    assert one.hit("k", 4, 60, T) == 0
    assert two.hit("k", 4, 60, T) == 0
    assert one.hit("k", 4, 60, T + 1) == 0
    assert two.hit("k", 4, 60, T + 1) == 0
    assert one.hit("k", 4, 60, T + 2) == 58
    assert two.hit("k", 4, 60, T + 2) == 58


def test_concurrent_hits_never_pass_the_limit(states: Pair) -> None:
    one, open_other = states
    instances = [one, open_other()]
    allowed: list[int] = []

    def hit_five(i: int) -> None:
        for _ in range(5):
            if instances[i % 2].hit("k", 7, 60, T) == 0:
                allowed.append(1)
    _together(4, hit_five)
    assert len(allowed) == 7


# --- the replay cache -----------------------------------------------------------------------------------

def test_first_use_is_true_once_until_expiry(states: Pair) -> None:
    state, _ = states

    async def uses() -> None:
        assert await state.first_use("jti-1", T + 60, now=T) is True
        assert await state.first_use("jti-1", T + 60, now=T) is False
        assert await state.first_use("jti-1", T + 120, now=T + 59) is False  # a later expiry does not reopen it
        assert await state.first_use("jti-2", T + 60, now=T) is True
        assert await state.first_use("jti-1", T + 120, now=T + 60) is True  # expired: forgotten
        assert await state.first_use("jti-1", T + 120, now=T + 61) is False
    run_async(uses())


def test_first_use_across_two_instances(states: Pair) -> None:
    one, open_other = states
    two = open_other()

    async def uses() -> None:
        assert await one.first_use("jti", T + 60, now=T) is True
        assert await two.first_use("jti", T + 60, now=T) is False
        assert await two.first_use("long-" + "x" * 400, T + 60, now=T) is True  # keys of any length
        assert await one.first_use("long-" + "x" * 400, T + 60, now=T) is False
        assert await one.first_use("long-" + "x" * 399 + "y", T + 60, now=T) is True
    run_async(uses())


def test_first_use_is_atomic_under_concurrency(states: Pair) -> None:
    one, open_other = states
    instances = [one, open_other()]
    keys = [f"jti-{n}" for n in range(40)]
    firsts: list[str] = []

    async def use_all(i: int) -> None:
        for key in (keys if i % 2 else reversed(keys)):
            if await instances[i % 2].first_use(key, T + 60, now=T):
                firsts.append(key)
    _together(4, lambda i: run_async(use_all(i)))  # four threads, an event loop each
    assert sorted(firsts) == sorted(keys)  # every key exactly once


def test_first_uses_of_one_loop_step_answer_each_for_itself(states: Pair) -> None:
    """Requests handled in one event-loop step (stored together on PostgreSQL): one use of a key among
    many is the first, every other key's use is too, and a mark made in an earlier step stays."""
    state, _ = states

    async def uses() -> list[bool]:
        assert await state.first_use("earlier", T + 60, now=T) is True
        keys = ["same"] * 6 + [f"other-{n}" for n in range(5)] + ["earlier"]
        return list(await asyncio.gather(*(state.first_use(key, T + 60, now=T) for key in keys)))
    answers = run_async(uses())
    assert answers[:6].count(True) == 1 and answers[6:11] == [True] * 5 and answers[11] is False


def test_purge_forgets_only_what_expired(states: Pair) -> None:
    state, _ = states

    async def uses() -> None:
        await state.first_use("old", T + 10, now=T)
        await state.first_use("live", T + 100, now=T)
        state.add("f" * 64, T, T + 10)
        state.purge_expired(T + 10)
        assert await state.first_use("live", T + 100, now=T + 10) is False
        assert await state.first_use("old", T + 100, now=T + 10) is True
    run_async(uses())
    assert state.newer(0, T + 10, 10) == []
    assert state.recent("f" * 64, T - 1, 10) in ([], [T])  # the key's own record may wait for its expiry


# --- failures (the throttles' part; its full contract: test_auth_failures.py on the databases) --------

def test_failures_recorded_by_one_instance_are_seen_by_another(states: Pair) -> None:
    one, open_other = states
    two = open_other()
    a, b = "a" * 64, "b" * 64
    ids = [one.add(a, T, T + 60), two.add(b, T + 1, T + 61), one.add(a, T + 2, T + 62)]
    assert ids == sorted(ids) and len(set(ids)) == 3
    assert two.recent(a, T - 1, 10) == [T + 2, T]
    assert two.recent(a, T, 10) == [T + 2]  # strictly after `since`
    assert one.newer(0, T, 10) == [(ids[0], a, T), (ids[1], b, T + 1), (ids[2], a, T + 2)]
    assert two.newer(ids[0], T, 1) == [(ids[1], b, T + 1)]
    assert one.newer(0, T + 61, 10) == [(ids[2], a, T + 2)]  # expired failures are not followed
