"""Fixtures of the flows: two servers on one database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from credo.storage.sql.engine import make_engine
from credo.storage.sql.migrate import upgrade
from credo.storage.sql.store import SqlStorage
from tests.conftest import SQL_BACKENDS
from tests.support import Server, in_process_server, shared_database_url


@pytest.fixture(params=SQL_BACKENDS)
def twins(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Server, Server]]:
    """Two servers, each with its own engine, storage and caches, on the same database."""
    with ExitStack() as stack:
        url = stack.enter_context(shared_database_url(request.param, tmp_path))
        servers = []
        for name in ("a", "b"):
            engine = make_engine(url)
            upgrade(engine)
            storage = SqlStorage(engine)
            stack.callback(storage.close)
            (tmp_path / name).mkdir()
            servers.append(stack.enter_context(in_process_server(storage, tmp_path / name)))
        yield servers[0], servers[1]
