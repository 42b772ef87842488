"""FailureLog (storage.ephemeral): the shared record of failed authentications, on every backend."""

from __future__ import annotations

import threading

from credo.storage.protocols import Storage

A, B = "a" * 64, "b" * 64


def test_recent_returns_the_newest_failures_after_since(any_storage: Storage) -> None:
    log = any_storage.ephemeral
    for at in (100, 105, 103, 110):
        log.add(A, at, at + 60)
    log.add(B, 104, 164)
    assert log.recent(A, 0, 10) == [110, 105, 103, 100]
    assert log.recent(A, 0, 2) == [110, 105]
    assert log.recent(A, 103, 10) == [110, 105]  # strictly after `since`
    assert log.recent(B, 0, 10) == [104]
    assert log.recent("c" * 64, 0, 10) == []


def test_ids_grow_and_newer_follows_them(any_storage: Storage) -> None:
    log = any_storage.ephemeral
    ids = [log.add(A, 100, 160), log.add(B, 101, 161), log.add(A, 102, 162)]
    assert ids == sorted(ids) and len(set(ids)) == 3
    assert log.newer(0, 100, 10) == [(ids[0], A, 100), (ids[1], B, 101), (ids[2], A, 102)]
    assert log.newer(ids[0], 100, 10) == [(ids[1], B, 101), (ids[2], A, 102)]
    assert log.newer(0, 100, 2) == [(ids[0], A, 100), (ids[1], B, 101)]
    assert log.newer(ids[2], 100, 10) == []
    assert log.newer(0, 161, 10) == [(ids[2], A, 102)]  # expired rows are not followed


def test_purge_removes_expired_rows_only(any_storage: Storage) -> None:
    log = any_storage.ephemeral
    log.add(A, 100, 160)
    log.add(A, 150, 210)
    log.add(B, 100, 160)
    assert log.purge_expired(159) == 0
    assert log.purge_expired(160) == 2
    assert log.recent(A, 0, 10) == [150]
    assert log.recent(B, 0, 10) == []
    assert log.purge_expired(160) == 0


def test_ids_are_not_reused_after_a_purge(any_storage: Storage) -> None:
    """Processes follow new rows by id: an id handed out again after a purge would be missed."""
    log = any_storage.ephemeral
    first = log.add(A, 100, 160)
    second = log.add(A, 101, 161)
    assert log.purge_expired(1000) == 2
    third = log.add(B, 1000, 1060)
    assert third > second > first
    assert log.newer(second, 1000, 10) == [(third, B, 1000)]


def test_concurrent_adds_all_count(any_storage: Storage) -> None:
    log = any_storage.ephemeral
    errors: list[BaseException] = []

    def fail_five() -> None:
        try:
            for _ in range(5):
                log.add(A, 100, 160)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=fail_five) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(log.recent(A, 0, 100)) == 20
    assert len({i for i, _, _ in log.newer(0, 100, 100)}) == 20
