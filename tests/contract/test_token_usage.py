"""The tally of tokens issued (`Storage.usage`), on every backend: counted per realm, grant type and minute;
a process's tally reaches the database when it flushes (or when it reads); processes on one database add
up; a failed flush keeps the tally for the next; old minutes are purged."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from credo.storage.protocols import Storage, StorageUnavailable
from credo.storage.sql.store import SqlStorage

T = 1_700_000_000 - 1_700_000_000 % 60  # the start of a minute
CC, TE = "client_credentials", "urn:ietf:params:oauth:grant-type:token-exchange"


def test_counts_per_grant_from_the_minute_of_since(any_storage: Storage) -> None:
    usage = any_storage.usage
    for at in (T, T + 59, T + 60, T + 3599):
        usage.note("r", CC, at)
    usage.note("r", TE, T + 120)
    usage.note("other", CC, T + 120)
    assert usage.issued("r", T) == {CC: 4, TE: 1}
    assert usage.issued("r", T + 30) == {CC: 4, TE: 1}  # the whole minute of `since` counts
    assert usage.issued("r", T + 61) == {CC: 2, TE: 1}
    assert usage.issued("r", T + 3600) == {}
    assert usage.issued("nowhere", T) == {}
    assert usage.purge(T + 60) == 1  # the first minute's row (two tokens)
    assert usage.issued("r", 0) == {CC: 2, TE: 1}


def test_two_processes_add_up_once_each_flushes(two: tuple[SqlStorage, SqlStorage]) -> None:
    one, other = two
    one.usage.note("r", CC, T)
    other.usage.note("r", CC, T + 1)
    other.usage.note("r", CC, T + 2)
    assert one.usage.issued("r", T) == {CC: 1}  # the other process has not stored its tally yet
    other.usage.flush()
    assert one.usage.issued("r", T) == {CC: 3}
    other.usage.flush()  # nothing pending: nothing added twice
    assert other.usage.issued("r", T) == {CC: 3}


def test_a_failed_flush_keeps_the_tally(two: tuple[SqlStorage, SqlStorage]) -> None:
    one, other = two
    one.usage.note("r", CC, T)
    with other.engine.begin() as conn:  # the table out of the way: the flush fails
        conn.execute(text("ALTER TABLE token_usage RENAME TO token_usage_away"))
    try:
        with pytest.raises((StorageUnavailable, DBAPIError)):
            one.usage.flush()
    finally:
        with other.engine.begin() as conn:
            conn.execute(text("ALTER TABLE token_usage_away RENAME TO token_usage"))
    one.usage.note("r", CC, T)
    one.usage.flush()
    assert other.usage.issued("r", T) == {CC: 2}  # the failed flush's token, and the one after
