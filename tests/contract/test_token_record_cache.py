"""The cache of token records (an opaque access token, a code, a session read on every use): records are
served from memory and dropped exactly when the burn counter moves, which every deletion and purge of a
token record moves, whichever process deleted it, on memory, SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import delete

from credo.domain.models import TokenRecord
from credo.storage.cached import CachedStorage, begin_request
from credo.storage.memory import MemoryStorage
from credo.storage.sql import tables as t
from credo.storage.sql.store import SqlStorage
from tests.contract.test_burned_cache import own_context

FAR = 10**10


def record(token_hash: str, expires_at: int = FAR) -> TokenRecord:
    return TokenRecord(token_hash=token_hash, realm="r", jti="j-" + token_hash, kind="access_token", client_id="c",
                       sub="c", scopes=("a",), issued_at=1, expires_at=expires_at, claims={"jti": "j-" + token_hash})


def test_deleting_and_purging_token_records_moves_the_burn_counter(two: tuple[SqlStorage, SqlStorage]) -> None:
    one, other = two
    records, burns = one.counters()
    other.tokens.add_many([record("a"), record("b", expires_at=5)])
    assert one.counters() == (records, burns)  # issuing moves nothing
    assert other.tokens.delete("a")
    assert one.counters() == (records, burns + 1)
    assert not other.tokens.delete("a")  # gone already: nothing moves
    assert one.counters() == (records, burns + 1)
    assert other.tokens.purge_expired(6) == 1
    assert one.counters() == (records, burns + 2)
    assert other.tokens.purge_expired(6) == 0
    assert one.counters() == (records, burns + 2)


def test_memory_moves_the_burn_counter_too() -> None:
    store = MemoryStorage()
    store.tokens.add(record("a"))
    store.tokens.add(record("b", expires_at=5))
    burns = store.counters()[1]
    assert store.tokens.delete("a") and store.counters()[1] == burns + 1
    assert not store.tokens.delete("a") and store.counters()[1] == burns + 1
    assert store.tokens.purge_expired(6) == 1 and store.counters()[1] == burns + 2


@own_context
def test_another_process_deletion_is_seen_by_the_next_request(two: tuple[SqlStorage, SqlStorage]) -> None:
    inner, other = two
    cached = CachedStorage(inner)
    other.tokens.add(record("a"))
    begin_request()
    assert cached.tokens.get("x") is None  # a missing token is not remembered ...
    other.tokens.add(record("x"))
    begin_request()
    assert cached.tokens.get("x") == record("x")  # ... so one issued by another process is found at once
    assert cached.tokens.get("a") == record("a")
    # Served from memory: a row deleted behind the counters' back is still seen (this is what is cached) ...
    with other.engine.begin() as conn:
        conn.execute(delete(t.tokens).where(t.tokens.c.token_hash == "a"))
    begin_request()
    assert cached.tokens.get("a") == record("a")
    # ... and any deletion by the other process moves the burn counter: the next request reads again.
    assert other.tokens.delete("x")
    begin_request()
    assert cached.tokens.get("a") is None
    assert cached.tokens.get("x") is None


@own_context
def test_another_process_purge_is_seen_by_the_next_request(two: tuple[SqlStorage, SqlStorage]) -> None:
    inner, other = two
    cached = CachedStorage(inner)
    other.tokens.add(record("old", expires_at=5))
    begin_request()
    assert cached.tokens.get("old") == record("old", expires_at=5)
    assert other.tokens.purge_expired(6) == 1
    begin_request()
    assert cached.tokens.get("old") is None


@own_context
def test_own_deletion_is_seen_at_once_and_issuing_keeps_the_cache(two: tuple[SqlStorage, SqlStorage]) -> None:
    inner, _ = two
    cached = CachedStorage(inner)
    cached.tokens.add(record("a"))
    begin_request()
    assert cached.tokens.get("a") == record("a")
    assert not cached.one_time.is_burned("r", "k")
    reads = cached.cache.counter_reads
    cached.tokens.add_many([record("b"), record("c")])  # issuing drops nothing and reads no counter
    assert cached.tokens.get("a") == record("a") and not cached.one_time.is_burned("r", "k")
    assert cached.cache.counter_reads == reads
    assert cached.tokens.delete("a")  # in the same request: dropped at once
    assert cached.tokens.get("a") is None
