"""Shared fixtures. PostgreSQL tests run against the real server when it is reachable and are
skipped, with the reason printed, when it is not."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from credo.domain.clock import FrozenClock
from credo.storage.protocols import Storage
from tests.factories import demo_secrets
from tests.support import (
    InProcessServer,
    LiveServer,
    Server,
    in_process_server,
    live_server,
    make_storage,
    postgres_reachable,
    remove_test_databases,
)

PG_SKIP = postgres_reachable()


def pytest_sessionfinish(session: pytest.Session) -> None:
    remove_test_databases()


def pytest_report_header(config: pytest.Config) -> str:
    return "postgres: " + ("reachable, PostgreSQL tests run" if PG_SKIP is None else f"SKIPPED - {PG_SKIP}")


def _backend_param(kind: str) -> object:
    marks = [pytest.mark.postgres, pytest.mark.skipif(PG_SKIP is not None, reason=PG_SKIP or "")] \
        if kind == "postgres" else []
    return pytest.param(kind, marks=marks, id=kind)


ALL_BACKENDS = [_backend_param(k) for k in ("memory", "sqlite", "postgres")]
SQL_BACKENDS = [_backend_param(k) for k in ("sqlite", "postgres")]


@pytest.fixture(params=ALL_BACKENDS)
def any_storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    with make_storage(request.param, tmp_path) as storage:
        yield storage


@pytest.fixture(params=SQL_BACKENDS)
def sql_storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    with make_storage(request.param, tmp_path) as storage:
        yield storage


@pytest.fixture
def clock() -> FrozenClock:
    """A clock that stands at the real time the test started and moves only when told (`advance`)."""
    return FrozenClock(int(time.time()))


@pytest.fixture
def server(sql_storage: Storage, tmp_path: Path) -> Iterator[InProcessServer]:
    """Credo with the demo realms, called in process, on SQLite and on PostgreSQL."""
    with in_process_server(sql_storage, tmp_path) as srv:
        yield srv


@pytest.fixture
def sqlite_server(tmp_path: Path) -> Iterator[InProcessServer]:
    """Credo on SQLite only, called in process (for tests whose logic does not depend on the backend)."""
    with make_storage("sqlite", tmp_path) as storage, in_process_server(storage, tmp_path) as srv:
        yield srv


@pytest.fixture
def frozen(clock: FrozenClock, tmp_path: Path) -> Iterator[tuple[InProcessServer, FrozenClock]]:
    """Credo on SQLite with the demo realms whose time is the `clock` fixture: (server, clock)."""
    with make_storage("sqlite", tmp_path) as storage, in_process_server(storage, tmp_path, clock=clock) as srv:
        demo_secrets(srv.services)
        yield srv, clock


@pytest.fixture
def frozen_sql(clock: FrozenClock, sql_storage: Storage, tmp_path: Path) -> Iterator[tuple[InProcessServer, FrozenClock]]:
    """As `frozen`, on SQLite and on PostgreSQL."""
    with in_process_server(sql_storage, tmp_path, clock=clock) as srv:
        demo_secrets(srv.services)
        yield srv, clock


@pytest.fixture
def live_sql_server(sql_storage: Storage, tmp_path: Path) -> Iterator[LiveServer]:
    """Credo served by uvicorn on a loopback port, on SQLite and on PostgreSQL: only for tests whose client
    is another process or a library that opens its own connections (see LiveServer)."""
    with live_server(sql_storage, tmp_path) as srv:
        yield srv


@pytest.fixture
def live_sqlite_server(tmp_path: Path) -> Iterator[LiveServer]:
    """Credo served by uvicorn on a loopback port, on SQLite only (see LiveServer)."""
    with make_storage("sqlite", tmp_path) as storage, live_server(storage, tmp_path) as srv:
        yield srv


@pytest.fixture
def demo(server: Server) -> dict[str, str]:
    """The demo realms; returns {client_id: secret} of the demo clients."""
    return demo_secrets(server.services)


@pytest.fixture
def sqlite_demo(sqlite_server: Server) -> dict[str, str]:
    return demo_secrets(sqlite_server.services)


@pytest.fixture
def live_sql_demo(live_sql_server: Server) -> dict[str, str]:
    return demo_secrets(live_sql_server.services)


@pytest.fixture
def live_sqlite_demo(live_sqlite_server: Server) -> dict[str, str]:
    return demo_secrets(live_sqlite_server.services)
