"""The PostgreSQL fast path: plain psycopg statements for the few queries on the hot path.

Through SQLAlchemy every statement costs four round trips on PostgreSQL (the pool's pre-ping, BEGIN, the
statement, COMMIT or ROLLBACK) plus the Core overhead; the token and introspection endpoints run a
handful of fixed, single-row statements, so on PostgreSQL they go straight to psycopg: autocommit
connections (one round trip for a single statement), every statement prepared on the server on first
use (`prepare_threshold=0`), several statements in one explicit transaction.

Connections come from a small list of idle ones (a call takes one and gives it back), so a process holds
about as many as it runs calls at once, not one per thread of the thread pool. A connection that fails
(the server went away, the backend was terminated) is closed and the call answers StorageUnavailable
(503); a read first tries once more on a fresh connection, as the engine's pre-ping would have, so an
idle connection dropped by a server restart costs no failed request. Writes are not retried: a failed
COMMIT may have been applied.

The change counter is one prepared `SELECT n FROM change_counter WHERE id = 1` per request. A
LISTEN/NOTIFY scheme would spare that round trip but tells other processes of a change asynchronously,
after the writer's COMMIT has returned: a request arriving in that window would use stale records, so
the query stays (it costs about as much as one loopback round trip).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from functools import cache
from typing import Any, TypeVar

import psycopg
from psycopg import pq
from sqlalchemy import Engine

from credo.storage.protocols import StorageUnavailable
from credo.storage.sql.fast_rows import COUNTER_SQL, Duplicate

R = TypeVar("R")

MAX_IDLE = 8  # idle connections kept per process; more at once are opened and closed as needed
CONNECT_TIMEOUT = 5  # seconds
APPLICATION_NAME = "credo-fast"  # how these connections show in pg_stat_activity


@cache
def pg_sql(sql: str) -> tuple[str, tuple[int, ...] | None]:
    """The fixed statements' SQLite placeholders in psycopg's style: `?` becomes `%s`; numbered ones
    (`?1`, `?2`) become `%s` too, with the order in which to pass the parameters (None: as given)."""
    order: list[int] = []

    def placeholder(match: re.Match[str]) -> str:
        if match.group(1):
            order.append(int(match.group(1)) - 1)
        return "%s"

    converted = re.sub(r"\?(\d*)", placeholder, sql.replace("%", "%%"))
    return converted, tuple(order) if order else None


def _params(order: tuple[int, ...] | None, params: tuple[Any, ...]) -> tuple[Any, ...]:
    return params if order is None else tuple(params[i] for i in order)


def _unreachable(exc: psycopg.Error) -> StorageUnavailable:
    return StorageUnavailable("database unreachable" if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)
                              else "database error")


class PgFastPath:
    def __init__(self, engine: Engine) -> None:
        self._conninfo = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._idle: list[psycopg.Connection[Any]] = []
        self._lock = threading.Lock()
        self._closed = False

    @staticmethod
    def supports(engine: Engine) -> bool:
        return engine.url.get_backend_name() == "postgresql" and engine.url.get_driver_name() == "psycopg"

    def _open(self) -> psycopg.Connection[Any]:
        if self._closed:
            raise StorageUnavailable("storage closed")
        try:
            return psycopg.connect(self._conninfo, autocommit=True, prepare_threshold=0,
                                   connect_timeout=CONNECT_TIMEOUT, application_name=APPLICATION_NAME)
        except psycopg.Error as exc:
            raise _unreachable(exc) from exc

    def _take(self) -> tuple[psycopg.Connection[Any], bool]:
        """A connection, and whether it was idle (it may have been dropped meanwhile)."""
        try:
            return self._idle.pop(), True
        except IndexError:
            return self._open(), False

    def _give(self, conn: psycopg.Connection[Any]) -> None:
        if (not self._closed and not conn.closed and len(self._idle) < MAX_IDLE
                and conn.info.transaction_status == pq.TransactionStatus.IDLE):
            self._idle.append(conn)
            if not self._closed:
                return
            with self._lock:  # closed meanwhile: close() may have missed it
                if conn in self._idle:
                    self._idle.remove(conn)
        conn.close()

    def _run(self, work: Callable[[psycopg.Connection[Any]], R], *, read: bool) -> R:
        conn, was_idle = self._take()
        retry = read and was_idle  # a dropped idle connection: a read goes once more on a fresh one
        while True:
            try:
                result = work(conn)
            except psycopg.OperationalError as exc:
                conn.close()
                if not retry:
                    raise _unreachable(exc) from exc
                retry = False
                conn = self._open()
                continue
            except psycopg.InterfaceError as exc:  # e.g. the connection was closed under us
                conn.close()
                raise _unreachable(exc) from exc
            except psycopg.IntegrityError as exc:
                self._give(conn)
                raise Duplicate(str(exc)) from exc
            except BaseException:
                conn.close()
                raise
            self._give(conn)
            return result

    def one(self, sql: str, params: tuple[Any, ...]) -> tuple[Any, ...] | None:
        text, order = pg_sql(sql)
        args = _params(order, params)
        return self._run(lambda conn: conn.execute(text, args).fetchone(), read=True)

    def write(self, sql: str, params: tuple[Any, ...]) -> int:
        """One statement in its own transaction (autocommit); raises Duplicate on a unique violation."""
        text, order = pg_sql(sql)
        args = _params(order, params)
        return self._run(lambda conn: conn.execute(text, args).rowcount, read=False)

    def transaction(self, statements: list[tuple[str, tuple[Any, ...]]]) -> None:
        """Several statements in one transaction (all or nothing); Duplicate propagates."""
        prepared = [(*pg_sql(sql), params) for sql, params in statements]

        def work(conn: psycopg.Connection[Any]) -> None:
            with conn.transaction():
                for text, order, params in prepared:
                    conn.execute(text, _params(order, params))

        self._run(work, read=False)

    def transaction_each(self, groups: list[list[tuple[str, tuple[Any, ...]]]]) -> list[Duplicate | None]:
        """Groups of statements in one transaction (one commit), each group all or nothing on its own (a
        savepoint each): a unique violation undoes only its group and is returned in its place; any
        other error undoes everything and propagates."""
        if len(groups) == 1:
            try:
                self.transaction(groups[0])
            except Duplicate as exc:
                return [exc]
            return [None]
        try:  # usually nothing conflicts: one transaction without a savepoint's two round trips per group
            self.transaction([statement for statements in groups for statement in statements])
            return [None] * len(groups)
        except Duplicate:
            pass  # nothing was stored; once more with a savepoint per group
        prepared = [[(*pg_sql(sql), params) for sql, params in statements] for statements in groups]

        def work(conn: psycopg.Connection[Any]) -> list[Duplicate | None]:
            outcomes: list[Duplicate | None] = []
            with conn.transaction():
                for statements in prepared:
                    try:
                        with conn.transaction():  # a savepoint
                            for text, order, params in statements:
                                conn.execute(text, _params(order, params))
                    except psycopg.IntegrityError as exc:
                        outcomes.append(Duplicate(str(exc)))
                    else:
                        outcomes.append(None)
            return outcomes

        return self._run(work, read=False)

    def change_counter(self) -> int:
        row = self.one(COUNTER_SQL, ())
        return int(row[0]) if row else 0

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            try:
                conn.close()
            except Exception:  # noqa: S110 - closing at shutdown
                pass

