"""Housekeeping (credo.management.maintenance): expired token records, burned one-time ids, ephemeral rows
and old counts of tokens issued are deleted, live ones kept, on SQLite (a real file) and by the schedule
every server process runs; a purge is seen at once by another process's cache of token records; the
schedule stores the tally of tokens issued every few seconds and when it stops."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from credo.app import Maintenance, start_maintenance
from credo.domain.clock import FrozenClock
from credo.domain.models import TokenRecord
from credo.management.maintenance import USAGE_KEPT, purge_expired
from credo.oauth.services import Services
from credo.storage.cached import CachedStorage
from credo.storage.memory import MemoryStorage
from credo.storage.sql.engine import make_engine
from credo.storage.sql.migrate import upgrade
from credo.storage.sql.store import SqlStorage
from tests.support import run_async, services_for

NOW = 1_800_000_000


def _token(token_hash: str, expires_at: int) -> TokenRecord:
    return TokenRecord(token_hash=token_hash, realm="alpha", jti="j-" + token_hash, kind="access_token",
                       client_id="c", sub="c", scopes=("read",), issued_at=NOW - 100, expires_at=expires_at)


def _fill(services: Services) -> None:
    storage = services.storage
    storage.tokens.add(_token("gone", NOW - 1))
    storage.tokens.add(_token("live", NOW + 60))
    storage.one_time.burn("alpha", "old-jti", NOW - 1)
    storage.one_time.burn("alpha", "new-jti", NOW + 60)
    services.ephemeral.add("f" * 64, NOW - 120, NOW - 60)
    assert run_async(services.ephemeral.first_use("mark", NOW - 1, now=NOW - 10))
    storage.usage.note("alpha", "client_credentials", NOW - USAGE_KEPT - 60)  # a minute too old
    storage.usage.note("alpha", "client_credentials", NOW - USAGE_KEPT + 60)


def _left(services: Services) -> tuple[bool, bool, bool, bool]:
    storage = services.storage
    return (storage.tokens.get("gone") is not None, storage.tokens.get("live") is not None,
            storage.one_time.is_burned("alpha", "old-jti"), storage.one_time.is_burned("alpha", "new-jti"))


def test_expired_rows_are_purged_and_live_ones_kept(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'credo.db'}")
    upgrade(engine)
    sql = SqlStorage(engine)
    services = services_for(sql, tmp_path, clock=FrozenClock(NOW))
    try:
        _fill(services)
        purged = purge_expired(services)
        assert purged == {"tokens": 1, "one_time_ids": 1, "ephemeral": 2,  # a failure and a replay mark
                          "token_usage": 1}
        assert _left(services) == (False, True, False, True)
        assert services.storage.usage.issued("alpha", 0) == {"client_credentials": 1}
        assert run_async(services.ephemeral.first_use("mark", NOW + 60, now=NOW))  # its mark was gone
        assert purge_expired(services) == {"tokens": 0, "one_time_ids": 0, "ephemeral": 0, "token_usage": 0}
    finally:
        sql.close()


def test_a_purge_is_seen_by_another_process_cache(tmp_path: Path) -> None:
    """Another process had the expired token record cached: the purge moves the burn counter, so its next
    read goes to the database."""
    engine = make_engine(f"sqlite:///{tmp_path / 'credo.db'}")
    upgrade(engine)
    one, two = SqlStorage(engine), SqlStorage(engine)
    services = services_for(one, tmp_path, clock=FrozenClock(NOW))
    other = CachedStorage(two)
    try:
        services.storage.tokens.add(_token("gone", NOW - 1))
        assert other.tokens.get("gone") is not None  # cached there
        assert purge_expired(services)["tokens"] == 1
        assert other.tokens.get("gone") is None
    finally:
        one.close()
        two.close()


def test_the_server_schedule_purges(tmp_path: Path) -> None:
    services = services_for(MemoryStorage(), tmp_path, clock=FrozenClock(NOW))
    _fill(services)
    stop = start_maintenance(services, 0, interval=0.02)  # no key rotation: the purge still runs
    try:
        deadline = time.monotonic() + 10
        while _left(services) != (False, True, False, True):
            assert time.monotonic() < deadline, "the schedule did not purge"
            time.sleep(0.01)
    finally:
        stop.stop()


@contextmanager
def _scheduled(tmp_path: Path, flush_interval: float) -> Iterator[tuple[SqlStorage, SqlStorage, Maintenance]]:
    """Two processes on one SQLite file, the first running the server's schedule (no key rotation)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'credo.db'}")
    upgrade(engine)
    one, two = SqlStorage(engine), SqlStorage(engine)
    stop = start_maintenance(services_for(one, tmp_path, clock=FrozenClock(NOW)), 0, interval=3600,
                             flush_interval=flush_interval)
    try:
        yield one, two, stop
    finally:
        stop.stop()
        one.close()
        two.close()


def test_the_server_schedule_stores_the_tally_of_tokens_issued(tmp_path: Path) -> None:
    """Another process sees this one's tokens once the schedule flushed them, without any read here."""
    with _scheduled(tmp_path, flush_interval=0.02) as (one, two, stop):
        one.usage.note("alpha", "client_credentials", NOW)
        deadline = time.monotonic() + 10
        while two.usage.issued("alpha", NOW) != {"client_credentials": 1}:
            assert time.monotonic() < deadline, "the schedule did not store the tally"
            time.sleep(0.01)
        stop.stop()
        one.usage.note("alpha", "client_credentials", NOW)  # after the schedule stopped: stored by nobody
        time.sleep(0.1)
        assert two.usage.issued("alpha", NOW) == {"client_credentials": 1}


def test_stopping_the_schedule_stores_what_was_noted_last(tmp_path: Path) -> None:
    """What the server's shutdown does: the thread's last flush, waited for (the process exits after)."""
    with _scheduled(tmp_path, flush_interval=3600) as (one, two, stop):
        time.sleep(0.1)  # the first round ran: the next flush would be an hour away
        one.usage.note("alpha", "password", NOW)
        stop.stop()
        assert two.usage.issued("alpha", NOW) == {"password": 1}
