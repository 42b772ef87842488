"""Shared fixtures. PostgreSQL tests run against the real server when it is reachable and are
skipped, with the reason printed, when it is not."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from credo.management.demo import ensure_demo
from credo.storage.protocols import Storage
from tests.support import LiveServer, live_server, make_storage, postgres_reachable

PG_SKIP = postgres_reachable()


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
def server(sql_storage: Storage, tmp_path: Path) -> Iterator[LiveServer]:
    """A real Credo server with the demo realms, on SQLite and on PostgreSQL."""
    with live_server(sql_storage, tmp_path) as srv:
        yield srv


@pytest.fixture
def sqlite_server(tmp_path: Path) -> Iterator[LiveServer]:
    """A real Credo server on SQLite only (for tests whose logic does not depend on the backend)."""
    with make_storage("sqlite", tmp_path) as storage, live_server(storage, tmp_path) as srv:
        yield srv


@pytest.fixture
def demo(server: LiveServer) -> dict[str, str]:
    """The demo realms; returns {client_id: secret} of the demo clients."""
    return {c.client_id: c.client_secret for c in ensure_demo(server.services)}


@pytest.fixture
def sqlite_demo(sqlite_server: LiveServer) -> dict[str, str]:
    return {c.client_id: c.client_secret for c in ensure_demo(sqlite_server.services)}
