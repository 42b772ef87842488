"""Fixtures shared by the contract tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from credo.storage.sql.engine import make_engine
from credo.storage.sql.migrate import upgrade
from credo.storage.sql.store import SqlStorage
from tests.conftest import SQL_BACKENDS
from tests.support import shared_database_url


@pytest.fixture(params=SQL_BACKENDS)
def two(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[SqlStorage, SqlStorage]]:
    """Two storages (as two processes have) on one database."""
    with ExitStack() as stack:
        url = stack.enter_context(shared_database_url(request.param, tmp_path))
        storages = []
        for _ in range(2):
            engine = make_engine(url)
            upgrade(engine)
            storage = SqlStorage(engine)
            stack.callback(storage.close)
            storages.append(storage)
        yield storages[0], storages[1]
