"""What the SQL repositories share: SQLAlchemy transactions for the administration statements, the
driver (fast path) for the hot ones, and the mapping of "cannot reach the database" to 503."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import TYPE_CHECKING, Any, ParamSpec, Protocol, TypeVar

import orjson
from sqlalchemy import Connection, Table, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import InterfaceError as SAInterfaceError

from credo.storage.protocols import StorageUnavailable
from credo.storage.sql import tables as t
from credo.storage.sql.statements import Duplicate, Statement

if TYPE_CHECKING:
    from credo.storage.sql.store import SqlStorage

P = ParamSpec("P")
R = TypeVar("R")

Statements = list[tuple[Statement, tuple[Any, ...]]]


class Driver(Protocol):
    """The hot statements' only way to the database: sqlite3 (fast.py) or psycopg (fast_pg.py). Unique
    violations raise Duplicate; an unreachable or unusable database raises StorageUnavailable."""

    def one(self, stmt: Statement, params: tuple[Any, ...]) -> tuple[Any, ...] | None: ...

    def write(self, stmt: Statement, params: tuple[Any, ...]) -> int:
        """One statement, committed on its own."""
        ...

    def transaction(self, statements: Statements) -> None:
        """Several statements, all or nothing."""
        ...

    def transaction_each(self, groups: list[Statements]) -> list[Duplicate | None]:
        """Groups in one commit, each all or nothing on its own: a conflict undoes only its group."""
        ...

    def counters(self) -> tuple[int, int]: ...

    async def counters_awaited(self) -> tuple[int, int]: ...

    async def write_awaited(self, stmt: Statement, params: tuple[Any, ...]) -> int:
        """`write` without blocking the event loop while it travels (a local database writes at once)."""
        ...

    def close(self) -> None: ...


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _unavailable(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn "cannot reach the database" into StorageUnavailable, so the edge answers 503."""

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except (OperationalError, SAInterfaceError) as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise StorageUnavailable("database busy") from exc
            raise StorageUnavailable("database unreachable") from exc
        except DBAPIError as exc:
            if exc.connection_invalidated:  # e.g. the SQLite file damaged or replaced (engine.py)
                raise StorageUnavailable("database unusable") from exc
            raise

    return wrapper


class _Repo:
    def __init__(self, store: SqlStorage) -> None:
        self._s = store
        self._fast: Driver = store.fast

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._s.engine.connect().execution_options(credo_read=True) as conn, conn.begin():
            yield conn

    def _insert(self, table: Table) -> sqlite.Insert | postgresql.Insert:
        """An INSERT in this database's dialect, for an upsert (`on_conflict_do_update`)."""
        if self._s.engine.dialect.name == "sqlite":
            return sqlite.insert(table)
        return postgresql.insert(table)

    @contextmanager
    def _write(self, bump: bool = False) -> Iterator[Connection]:
        with self._s.engine.begin() as conn:
            yield conn
            if bump:
                conn.execute(update(t.change_counter).where(t.change_counter.c.id == 1)
                             .values(n=t.change_counter.c.n + 1))


def escape_like(text: str) -> str:
    """`text` for a LIKE pattern with backslash as the escape character: its own % and _ match themselves."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
