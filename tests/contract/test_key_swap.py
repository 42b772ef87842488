"""The key repository's compare-and-swaps, on every backend: a rotation retires the active keys it read and
adds its new key in one step, or does nothing when another rotation came first; the data key is inserted
once and re-sealed only from the master key it was read under. The race runs with real threads and
connections on the SQL backends."""

from __future__ import annotations

import threading
from dataclasses import replace

from credo.domain.models import SealedDataKey, SigningKey
from credo.storage.protocols import Storage
from credo.storage.sql.engine import make_engine
from credo.storage.sql.store import SqlStorage

R = "alpha"


def _key(kid: str, at: int) -> SigningKey:
    return SigningKey(R, kid, "ES256", b"sealed-" + kid.encode(), {"kty": "EC", "kid": kid}, created_at=at)


def test_swap_active(any_storage: Storage) -> None:
    s = any_storage
    s.keys.add(_key("k1", 10))
    before = s.change_counter()
    assert s.keys.swap_active(R, ["k1"], _key("k2", 20), publish_until=500) is True
    assert s.change_counter() > before  # other processes' key rings see it
    assert s.keys.all(R) == [replace(_key("k1", 10), active=False, publish_until=500), _key("k2", 20)]
    # A rotation that read the keys before that one: refused, nothing changed.
    assert s.keys.swap_active(R, ["k1"], _key("k3", 30), publish_until=600) is False
    assert s.keys.swap_active(R, [], _key("k3", 30), publish_until=600) is False
    assert s.keys.swap_active(R, ["k1", "k2"], _key("k3", 30), publish_until=600) is False
    assert [k.kid for k in s.keys.all(R)] == ["k1", "k2"]
    assert s.keys.swap_active(R, ["k2"], _key("k2", 30), publish_until=600) is False  # kid taken
    assert s.keys.all(R) == [replace(_key("k1", 10), active=False, publish_until=500), _key("k2", 20)]
    # A realm without keys: the first key is a swap of none.
    assert s.keys.swap_active("bravo", [], replace(_key("b1", 5), realm="bravo"), publish_until=0) is True
    assert [k.kid for k in s.keys.all("bravo") if k.active] == ["b1"]


def test_data_key_compare_and_swap(any_storage: Storage) -> None:
    s = any_storage
    first = SealedDataKey("main", b"sealed-by-a", "aaaa", created_at=1, updated_at=1)
    assert s.keys.data_key("main") is None
    assert s.keys.add_data_key(first) is True
    assert s.keys.add_data_key(replace(first, sealed=b"other", master_id="cccc")) is False  # the first one stays
    assert s.keys.data_key("main") == first
    resealed = replace(first, sealed=b"sealed-by-b", master_id="bbbb", updated_at=2)
    assert s.keys.reseal_data_key(resealed, expected_master_id="cccc") is False
    assert s.keys.reseal_data_key(resealed, expected_master_id="aaaa") is True
    assert s.keys.reseal_data_key(replace(resealed, sealed=b"x"), expected_master_id="aaaa") is False
    assert s.keys.data_key("main") == resealed


def test_concurrent_rotations_one_wins(sql_storage: Storage) -> None:
    """Eight processes' worth of connections race to rotate from the same read: exactly one succeeds."""
    sql_storage.keys.add(_key("k0", 10))
    url = sql_storage.engine.url.render_as_string(hide_password=False)  # type: ignore[attr-defined]
    others = [SqlStorage(make_engine(url)) for _ in range(8)]
    barrier = threading.Barrier(len(others))
    results: list[bool] = []

    def rotate(i: int) -> None:
        barrier.wait()
        results.append(others[i].keys.swap_active(R, ["k0"], _key(f"n{i}", 20 + i), publish_until=99))

    threads = [threading.Thread(target=rotate, args=(i,)) for i in range(len(others))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for other in others:
        other.close()
    assert sorted(results) == [False] * 7 + [True]
    active = [k.kid for k in sql_storage.keys.all(R) if k.active]
    assert len(active) == 1 and active[0].startswith("n")
