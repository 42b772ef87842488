"""The PostgreSQL fast path: plain psycopg statements for the few queries on the hot path.

Through SQLAlchemy every statement costs four round trips on PostgreSQL (the pool's pre-ping, BEGIN, the
statement, COMMIT or ROLLBACK) plus the Core overhead; the token and introspection endpoints run a
handful of fixed, single-row statements (statements.py, compiled once from tables.py), so on PostgreSQL
they go straight to psycopg, and only this way: autocommit connections (one round trip for a single
statement), every statement prepared on the server on first use (`prepare_threshold=0`), several
statements in one explicit transaction.

Connections come from a `psycopg_pool.ConnectionPool` (a call takes one and gives it back), so a process
holds about as many as it runs calls at once, not one per thread of the thread pool. A connection that
fails (the server went away, the backend was terminated) is closed, the pool replaces it in the
background, the pool's idle connections are checked (one round trip each: after a server restart they
are all dead, and each would fail a call), and the call answers StorageUnavailable (503); a read first
tries once more, as the engine's pre-ping would have, so a server restart costs no failed read. Writes
are not retried: a failed COMMIT may have been applied.
A call that gets no connection within POOL_WAIT seconds (the server unreachable, or every connection
busy) answers 503 too. The pool gives up reconnecting after RECONNECT_TIMEOUT, so the next call after an
outage connects at once instead of waiting out the pool's back-off.

The change and burn counters are one prepared `SELECT n, burns FROM change_counter WHERE id = 1`. A
LISTEN/NOTIFY scheme would spare that round trip but tells other processes of a change asynchronously,
after the writer's COMMIT has returned: a request arriving in that window would use stale records, so
the query stays (it costs about as much as one loopback round trip).

The requests' counter reads (`counters_awaited`, one for many requests: storage/cached.py) travel on the
event loop itself, on one asynchronous connection per loop kept open: no thread hand-off and no pool
checkout per read (a read handed to a thread cost the serving process about 2.5 times the CPU, and
waited for the interpreter lock behind the loop). A read that fails or takes longer than COUNTER_WAIT
closes that connection (the next read opens another) and answers StorageUnavailable.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg
from psycopg_pool import ConnectionPool, PoolClosed
from sqlalchemy import Engine

from credo.storage.protocols import StorageUnavailable
from credo.storage.sql.statements import COUNTER, Check, Duplicate, Statement

R = TypeVar("R")

MIN_CONNECTIONS = 0  # opened on first use (as many as calls run at once), closed after MAX_IDLE unused
MAX_CONNECTIONS = 16  # per process; a call waits for one when all are busy
MAX_IDLE = 600.0  # seconds
POOL_WAIT = 2.0  # seconds a call waits for a connection before it answers 503
RECONNECT_TIMEOUT = 2.0  # seconds the pool retries a failed connection attempt (with back-off) in the background
CONNECT_TIMEOUT = 5  # seconds
APPLICATION_NAME = "credo-fast"  # how these connections show in pg_stat_activity
COUNTER_WAIT = 2.0  # seconds an awaited counter read (connecting included) may take before it answers 503

Statements = list[tuple[Statement, tuple[Any, ...]]]


def _unreachable(exc: psycopg.Error) -> StorageUnavailable:
    if isinstance(exc, PoolClosed):
        return StorageUnavailable("storage closed")
    return StorageUnavailable("database unreachable" if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)
                              else "database error")


class _Connection(psycopg.Connection[Any]):
    """A pooled connection with one cursor for all its statements: `conn.execute` makes and drops a
    cursor per statement, which costs more CPU than the pool's checkout and return together."""

    cur: psycopg.Cursor[Any]


def _configure(conn: _Connection) -> None:
    conn.cur = conn.cursor()


def _execute(conn: _Connection, stmt: Statement, params: tuple[Any, ...]) -> None:
    conn.cur.execute(stmt.postgresql, params)
    if isinstance(stmt, Check) and not conn.cur.fetchone()[0]:  # type: ignore[index]
        raise psycopg.IntegrityError(stmt.refusal)


class _CounterReader:
    """The awaited counter reads of one event loop: one asynchronous connection with its cursor."""

    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self.conn = conn
        self.cur = conn.cursor()

    async def read(self) -> tuple[int, int]:
        await self.cur.execute(COUNTER.postgresql)
        row = await self.cur.fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)


def _execute_all(conn: _Connection, statements: Statements) -> None:
    """The statements in order; a run of the same plain statement (a batch's token rows, its audit events)
    goes as one `executemany`: the same messages to the server, a fraction of the client's work per row."""
    i, n = 0, len(statements)
    while i < n:
        stmt, params = statements[i]
        j = i + 1
        if not isinstance(stmt, Check):
            while j < n and statements[j][0] is stmt:
                j += 1
        if j - i > 1:
            conn.cur.executemany(stmt.postgresql, [p for _, p in statements[i:j]])
        else:
            _execute(conn, stmt, params)
        i = j


def _by_statement(statements: Statements) -> Statements:
    """The statements of independent groups (one transaction, all or nothing) ordered by statement, each
    statement where it first appears, so each kind of row is one run (`_execute_all`): the client rows,
    then their resources, then their audit events. Kept as they are when a check is among them (a check
    reads what the statements before it wrote)."""
    if any(isinstance(stmt, Check) for stmt, _ in statements):
        return statements
    runs: dict[int, Statements] = {}
    for statement in statements:
        runs.setdefault(id(statement[0]), []).append(statement)
    return [statement for run in runs.values() for statement in run]


class PgFastPath:
    def __init__(self, engine: Engine) -> None:
        conninfo = self._conninfo = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._readers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _CounterReader] = \
            weakref.WeakKeyDictionary()
        self._pool: ConnectionPool[_Connection] = ConnectionPool(
            conninfo, connection_class=_Connection, configure=_configure, open=False, name=APPLICATION_NAME,
            min_size=MIN_CONNECTIONS, max_size=MAX_CONNECTIONS, max_idle=MAX_IDLE, timeout=POOL_WAIT,
            reconnect_timeout=RECONNECT_TIMEOUT,
            kwargs={"autocommit": True, "prepare_threshold": 0, "connect_timeout": CONNECT_TIMEOUT,
                    "application_name": APPLICATION_NAME})
        self._pool.open()  # connects on first use: an unreachable server does not stop the start

    @staticmethod
    def supports(engine: Engine) -> bool:
        return engine.url.get_backend_name() == "postgresql" and engine.url.get_driver_name() == "psycopg"

    def _get(self) -> _Connection:
        try:
            return self._pool.getconn()
        except psycopg.OperationalError as exc:  # PoolTimeout, PoolClosed
            raise _unreachable(exc) from exc

    def _discard(self, conn: _Connection) -> None:
        conn.close()
        self._pool.putconn(conn)  # a closed connection: the pool replaces it

    def _run(self, work: Callable[[_Connection], R], *, read: bool) -> R:
        conn = self._get()
        retry = read  # a dropped idle connection: a read goes once more on another one
        while True:
            try:
                result = work(conn)
            except psycopg.OperationalError as exc:
                self._discard(conn)
                self._pool.check()  # if the server restarted, the idle connections died too: replace them
                if not retry:
                    raise _unreachable(exc) from exc
                retry = False
                conn = self._get()
                continue
            except psycopg.InterfaceError as exc:  # e.g. the connection was closed under us
                self._discard(conn)
                raise _unreachable(exc) from exc
            except psycopg.IntegrityError as exc:
                self._pool.putconn(conn)
                raise Duplicate(str(exc)) from exc
            except BaseException:
                self._discard(conn)
                raise
            self._pool.putconn(conn)
            return result

    def one(self, stmt: Statement, params: tuple[Any, ...]) -> tuple[Any, ...] | None:
        if any(isinstance(p, str) and "\x00" in p for p in params):
            return None  # PostgreSQL text cannot hold NUL, so no stored key has one: no row (not a 500)
        sql = stmt.postgresql
        return self._run(lambda conn: conn.cur.execute(sql, params).fetchone(), read=True)

    def write(self, stmt: Statement, params: tuple[Any, ...]) -> int:
        """One statement in its own transaction (autocommit); raises Duplicate on a unique violation."""
        sql = stmt.postgresql
        return self._run(lambda conn: conn.cur.execute(sql, params).rowcount, read=False)

    def transaction(self, statements: Statements) -> None:
        """Several statements in one transaction (all or nothing); Duplicate propagates. They are sent in
        pipeline mode: BEGIN, the statements and COMMIT travel together and the server's answers are read
        once (a check's answer is read where it stands), so a batch of a few dozen inserts costs about one
        round trip and the commit's log flush instead of a round trip per statement."""

        def work(conn: _Connection) -> None:
            with conn.pipeline(), conn.transaction():
                _execute_all(conn, statements)

        self._run(work, read=False)

    def transaction_each(self, groups: list[Statements]) -> list[Duplicate | None]:
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
            self.transaction(_by_statement([statement for statements in groups for statement in statements]))
            return [None] * len(groups)
        except Duplicate:
            pass  # nothing was stored; once more with a savepoint per group

        def work(conn: _Connection) -> list[Duplicate | None]:
            outcomes: list[Duplicate | None] = []
            with conn.transaction():
                for statements in groups:
                    try:
                        with conn.transaction():  # a savepoint
                            for stmt, params in statements:
                                _execute(conn, stmt, params)
                    except psycopg.IntegrityError as exc:
                        outcomes.append(Duplicate(str(exc)))
                    else:
                        outcomes.append(None)
            return outcomes

        return self._run(work, read=False)

    def counters(self) -> tuple[int, int]:
        row = self.one(COUNTER, ())
        return (int(row[0]), int(row[1])) if row else (0, 0)

    async def counters_awaited(self) -> tuple[int, int]:
        loop = asyncio.get_running_loop()
        reader = self._readers.get(loop)
        try:
            async with asyncio.timeout(COUNTER_WAIT):
                if reader is None:
                    reader = self._readers[loop] = _CounterReader(await psycopg.AsyncConnection.connect(
                        self._conninfo, autocommit=True, prepare_threshold=0, connect_timeout=CONNECT_TIMEOUT,
                        application_name=APPLICATION_NAME))
                return await reader.read()
        except (psycopg.Error, TimeoutError) as exc:
            dropped = self._readers.pop(loop, None)
            if dropped is not None:
                dropped.conn.pgconn.finish()  # interrupted or broken: never reused
            raise StorageUnavailable("database unreachable" if isinstance(exc, TimeoutError | psycopg.OperationalError)
                                     else "database error") from exc

    def close(self) -> None:
        readers, self._readers = list(self._readers.values()), weakref.WeakKeyDictionary()
        for reader in readers:
            reader.conn.pgconn.finish()  # the connection's socket, whichever loop it served
        self._pool.close()
