"""The cache of burned one-time ids (the revocation check of every introspection): answers are served from
memory and dropped exactly when the burn counter moves, whichever process burned, on SQLite and PostgreSQL."""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import insert, update

from credo.domain.models import Client, Realm
from credo.storage.cached import CachedStorage, begin_request
from credo.storage.memory import MemoryStorage
from credo.storage.protocols import Storage
from credo.storage.sql import tables as t
from credo.storage.sql.store import SqlStorage

FAR = 10**10


def own_context(test: Callable[..., None]) -> Callable[..., None]:
    """Run the test in a copy of the context: the requests it marks (begin_request) end with it."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        contextvars.copy_context().run(test, *args, **kwargs)
    return run


def test_a_burn_moves_the_burn_counter_only(two: tuple[SqlStorage, SqlStorage]) -> None:
    one, other = two
    records, burns = one.counters()
    assert other.one_time.burn("r", "x", FAR)
    assert one.counters() == (records, burns + 1)
    assert not other.one_time.burn("r", "x", FAR)  # already burned: nothing moves
    other.clients.create(Client(realm="r", client_id="c"), burn=("iat", FAR))  # a creation that burns
    assert one.counters() == (records, burns + 2)
    other.clients.create(Client(realm="r", client_id="d"))  # one that does not
    assert other.one_time.purge_expired(FAR + 1) == 2
    assert one.counters() == (records, burns + 3)
    assert other.one_time.purge_expired(FAR + 1) == 0
    assert one.counters() == (records, burns + 3)
    assert one.change_counter() == records


@own_context
def test_another_process_burn_is_seen_by_the_next_request(two: tuple[SqlStorage, SqlStorage]) -> None:
    inner, other = two
    cached = CachedStorage(inner)
    begin_request()
    assert not cached.one_time.is_burned("r", "x")
    assert not cached.one_time.any_burned("r", ("x", "y"))
    # Served from memory: a row written behind the counters' back is not seen (this is what is cached) ...
    with other.engine.begin() as conn:
        conn.execute(insert(t.one_time_ids).values(realm="r", id="x", expires_at=FAR))
    begin_request()
    assert not cached.one_time.is_burned("r", "x")
    # ... until any burn, by any process, moves the counter: then every answer is read again.
    assert other.one_time.burn("r", "z", FAR)
    begin_request()
    assert cached.one_time.is_burned("r", "x") and cached.one_time.any_burned("r", ("x", "y"))
    assert not cached.one_time.is_burned("r", "iat")
    other.clients.create(Client(realm="r", client_id="c"), burn=("iat", FAR))
    begin_request()
    assert cached.one_time.is_burned("r", "iat")
    other.one_time.purge_expired(FAR + 1)
    begin_request()
    assert not cached.one_time.is_burned("r", "x")


@own_context
def test_a_burn_drops_no_cached_record_and_a_record_change_drops_the_burned_answers(
        two: tuple[SqlStorage, SqlStorage]) -> None:
    inner, other = two
    cached = CachedStorage(inner)
    other.realms.put(Realm(name="r"))
    begin_request()
    assert cached.realms.get("r").created_at == 0  # type: ignore[union-attr]
    assert not cached.one_time.is_burned("r", "x")
    with other.engine.begin() as conn:  # behind the counters' back
        conn.execute(update(t.realms).where(t.realms.c.name == "r").values(created_at=5))
        conn.execute(insert(t.one_time_ids).values(realm="r", id="x", expires_at=FAR))
    other.one_time.burn("r", "z", FAR)
    begin_request()
    assert cached.realms.get("r").created_at == 0  # type: ignore[union-attr]  # a burn keeps the records
    assert cached.one_time.is_burned("r", "x") and not cached.one_time.is_burned("r", "w")
    with other.engine.begin() as conn:
        conn.execute(insert(t.one_time_ids).values(realm="r", id="w", expires_at=FAR))
    begin_request()
    assert not cached.one_time.is_burned("r", "w")
    other.realms.put(Realm(name="r2"))  # a record change drops everything
    begin_request()
    assert cached.realms.get("r").created_at == 5  # type: ignore[union-attr]
    assert cached.one_time.is_burned("r", "w")


@pytest.mark.parametrize("make", [MemoryStorage, None])
@own_context
def test_own_burns_and_creations_with_a_burn_are_seen_at_once(make: type[MemoryStorage] | None,
                                                              two: tuple[SqlStorage, SqlStorage]) -> None:
    inner: Storage = make() if make is not None else two[0]
    cached = CachedStorage(inner)
    begin_request()
    assert not cached.one_time.is_burned("r", "x") and not cached.one_time.is_burned("r", "iat")
    assert cached.one_time.burn("r", "x", FAR)
    assert cached.one_time.is_burned("r", "x")  # same request: this process's own burn
    assert not cached.one_time.is_burned("r", "iat")  # remembered again
    cached.clients.create(Client(realm="r", client_id="c"), burn=("iat", FAR))
    assert cached.one_time.is_burned("r", "iat")
    assert cached.one_time.purge_expired(FAR + 1) == 2
    assert not cached.one_time.is_burned("r", "x")
