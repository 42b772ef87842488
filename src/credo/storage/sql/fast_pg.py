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

What the serving event loop waits for travels on the loop itself, on asynchronous connections of that
loop (kept open, at most MAX_LOOP_CONNECTIONS, opened as needed): the requests' counter reads
(`counters_awaited`, one for many requests: storage/cached.py) and the group commits of their writes
(`transaction_awaited`, `transaction_each_awaited`: storage/unit_of_work.py). No thread hand-off: a
read or a commit handed to a thread cost the serving process about 2.5 times the CPU, and the thread
waited for the interpreter lock behind the loop. A connection that fails (or a counter read that takes
longer than COUNTER_WAIT) is closed, the next call opens another, and the call answers
StorageUnavailable; as on the pool, an awaited write is never retried.
"""

from __future__ import annotations

import asyncio
import functools
import weakref
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

import psycopg
from psycopg_pool import ConnectionPool, PoolClosed
from sqlalchemy import Engine

from credo.storage.protocols import StorageUnavailable
from credo.storage.sql.statements import COUNTER, Check, Duplicate, Insert, Statement, runs_of

R = TypeVar("R")

MIN_CONNECTIONS = 0  # opened on first use (as many as calls run at once), closed after MAX_IDLE unused
MAX_CONNECTIONS = 16  # per process; a call waits for one when all are busy
MAX_IDLE = 600.0  # seconds
POOL_WAIT = 2.0  # seconds a call waits for a connection before it answers 503
RECONNECT_TIMEOUT = 2.0  # seconds the pool retries a failed connection attempt (with back-off) in the background
CONNECT_TIMEOUT = 5  # seconds
APPLICATION_NAME = "credo-fast"  # how these connections show in pg_stat_activity
COUNTER_WAIT = 2.0  # seconds an awaited counter read (connecting included) may take before it answers 503
MAX_STATEMENT_PARAMETERS = 30_000  # rows put into one statement at most (PostgreSQL allows 65,535 parameters)
MAX_LOOP_CONNECTIONS = 8  # asynchronous connections open per event loop at most (a call waits for one beyond)

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
    raw: psycopg.RawCursor[Any]  # for the one-statement inserts, written with the server's own placeholders


def _configure(conn: _Connection) -> None:
    conn.cur = conn.cursor()
    conn.raw = psycopg.RawCursor(conn)


def _execute(conn: _Connection, stmt: Statement, params: tuple[Any, ...]) -> None:
    conn.cur.execute(stmt.postgresql, params)
    if isinstance(stmt, Check) and not conn.cur.fetchone()[0]:  # type: ignore[index]
        raise psycopg.IntegrityError(stmt.refusal)


class _AsyncConnection:
    """An asynchronous connection of one event loop, with one cursor for all its statements."""

    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self.conn = conn
        self.cur = conn.cursor()
        self.raw = psycopg.AsyncRawCursor(conn)  # the one-statement inserts (`_one_statement`)

    async def execute(self, stmt: Statement, params: tuple[Any, ...]) -> None:
        await self.cur.execute(stmt.postgresql, params)
        if isinstance(stmt, Check) and not (await self.cur.fetchone())[0]:  # type: ignore[index]
            raise psycopg.IntegrityError(stmt.refusal)

    async def execute_all(self, statements: Statements) -> None:
        """As `_execute_all`: a run of the same plain statement goes as one executemany."""
        for stmt, rows in runs_of(statements):
            if len(rows) > 1:
                await self.cur.executemany(stmt.postgresql, rows)
            else:
                await self.execute(stmt, rows[0])

    def finish(self) -> None:
        self.conn.pgconn.finish()  # its socket, whichever loop it served


class _LoopConnections:
    """One event loop's asynchronous connections: at most MAX_LOOP_CONNECTIONS open (or opening); a call
    that finds none idle when all are open waits for the next one given back."""

    def __init__(self) -> None:
        self.idle: list[_AsyncConnection] = []
        self.open = 0
        self.waiters: deque[asyncio.Future[_AsyncConnection | None]] = deque()

    async def take(self, loop: asyncio.AbstractEventLoop) -> _AsyncConnection | None:
        """An idle connection, or None: the caller opens one (counted here)."""
        if self.idle:
            return self.idle.pop()
        if self.open < MAX_LOOP_CONNECTIONS:
            self.open += 1
            return None
        waiter: asyncio.Future[_AsyncConnection | None] = loop.create_future()
        self.waiters.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():  # handed over just as the caller was cancelled
                self.give(waiter.result())
            raise

    def give(self, conn: _AsyncConnection | None) -> None:
        """A connection back (None: a place to open one), to the first caller waiting, else idle."""
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        if conn is None:
            self.open -= 1
        else:
            self.idle.append(conn)

    def drop(self, conn: _AsyncConnection | None) -> None:
        """A connection closed (or never opened): its place goes to a caller waiting, if any."""
        if conn is not None:
            conn.finish()
        self.give(None)

    def drop_idle(self) -> None:
        idle, self.idle = self.idle, []
        for conn in idle:
            conn.finish()
        self.open -= len(idle)


def _one_statement(statements: Statements) -> tuple[str, list[Any]] | None:
    """Inserts only, as one statement: each run of rows of one table as a multi-row INSERT, the runs
    chained as data-modifying WITH clauses (one statement is one transaction: all or nothing; a unique
    violation in any row fails it). For a batch this is one message and one answer, where BEGIN, the
    statements, COMMIT and the pipeline's synchronisation cost the client five times the CPU. None when a
    statement is not a plain insert or the parameters would be too many."""
    runs = runs_of(statements)
    if not all(isinstance(stmt, Insert) for stmt, _ in runs):
        return None
    params = [value for _, rows in runs for row in rows for value in row]
    if len(params) > MAX_STATEMENT_PARAMETERS:
        return None
    return _one_statement_text(tuple((cast(Insert, stmt), len(rows)) for stmt, rows in runs)), params


@functools.lru_cache(maxsize=1024)
def _one_statement_text(shape: tuple[tuple[Insert, int], ...]) -> str:
    """The text for the statements and row counts of `shape` (a batch's shapes repeat: a few dozen sizes
    of a few kinds; the server prepares each once per connection). Its placeholders are PostgreSQL's own
    (`$1`, `$2`, ...), sent on a raw cursor: psycopg converts `%s` only in texts shorter than 4 KB from a
    cache, and a batch's text is longer, so it would be parsed again on every batch."""
    parts = []
    n = 0
    for stmt, count in shape:
        width = len(stmt.keys)
        rows = []
        for _ in range(count):
            rows.append("(" + ", ".join(f"${n + i}" for i in range(1, width + 1)) + ")")
            n += width
        parts.append(stmt.pg_head + ", ".join(rows))
    if len(parts) == 1:
        return parts[0]
    return "WITH " + ", ".join(f"w{i} AS ({part})" for i, part in enumerate(parts[:-1])) + " " + parts[-1]


class _Aborted(Exception):
    """A transaction sent in pipeline mode was aborted by one of its statements, and psycopg answered
    `PipelineAborted` instead of that statement's own error (seen under concurrent conflicting writes).
    Nothing was stored; the transaction is sent once more without pipeline mode, where every statement's
    answer is read where it stands, so the refusal (a unique violation: Duplicate) is known for what it is."""


def _execute_all(conn: _Connection, statements: Statements) -> None:
    for stmt, rows in runs_of(statements):
        if len(rows) > 1:
            conn.cur.executemany(stmt.postgresql, rows)
        else:
            _execute(conn, stmt, rows[0])


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
        # Per event loop, its asynchronous connections (a loop's connections serve that loop only).
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopConnections] = \
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
            except psycopg.errors.PipelineAborted as exc:
                self._discard(conn)  # the connection is left as the aborted pipeline left it
                raise _Aborted() from exc
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
        """Several statements in one transaction (all or nothing); Duplicate propagates. Inserts only (a
        batch's tokens and audit events, registrations without a burn or a limit) go as one statement
        (`_one_statement`: one round trip, its own transaction); anything else in pipeline mode: BEGIN,
        the statements and COMMIT travel together and the server's answers are read once (a check's
        answer is read where it stands), about one round trip and the commit's log flush."""
        one = _one_statement(statements)
        if one is not None:
            sql, params = one
            self._run(lambda conn: conn.raw.execute(sql, params), read=False)
            return

        def work(conn: _Connection) -> None:
            with conn.pipeline(), conn.transaction():
                _execute_all(conn, statements)

        def plain(conn: _Connection) -> None:
            with conn.transaction():
                _execute_all(conn, statements)

        try:
            self._run(work, read=False)
        except _Aborted:
            self._run(plain, read=False)

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
        async def read(conn: _AsyncConnection) -> tuple[int, int]:
            await conn.cur.execute(COUNTER.postgresql)
            row = await conn.cur.fetchone()
            return (int(row[0]), int(row[1])) if row else (0, 0)
        return await self._awaited(read, timeout=COUNTER_WAIT)

    async def write_awaited(self, stmt: Statement, params: tuple[Any, ...]) -> int:
        """`write` on the event loop: one statement, autocommit (one round trip)."""
        async def work(conn: _AsyncConnection) -> int:
            await conn.cur.execute(stmt.postgresql, params)
            return conn.cur.rowcount
        return await self._awaited(work)

    async def firsts_awaited(self, stmt: Statement, rows: list[tuple[Any, ...]]) -> list[bool]:
        """`stmt` (an insert answering a row when it stores one) for each of `rows`, in order, in one
        transaction (one commit for all): for each, whether it answered a row."""
        async def work(conn: _AsyncConnection) -> list[bool]:
            stored: list[bool] = []
            async with conn.conn.transaction():
                await conn.cur.executemany(stmt.postgresql, rows, returning=True)
                while True:
                    stored.append(await conn.cur.fetchone() is not None)
                    if not conn.cur.nextset():
                        break
            return stored
        return await self._awaited(work)

    async def transaction_awaited(self, statements: Statements) -> None:
        """`transaction` on the event loop (one statement when it can, else in pipeline mode)."""
        one = _one_statement(statements)

        async def work(conn: _AsyncConnection) -> None:
            if one is not None:
                await conn.raw.execute(*one)
                return
            async with conn.conn.pipeline(), conn.conn.transaction():
                await conn.execute_all(statements)

        async def plain(conn: _AsyncConnection) -> None:
            async with conn.conn.transaction():
                await conn.execute_all(statements)

        try:
            await self._awaited(work)
        except _Aborted:
            await self._awaited(plain)

    async def transaction_each_awaited(self, groups: list[Statements]) -> list[Duplicate | None]:
        """`transaction_each` on the event loop."""
        if len(groups) == 1:
            try:
                await self.transaction_awaited(groups[0])
            except Duplicate as exc:
                return [exc]
            return [None]
        try:
            await self.transaction_awaited(_by_statement([statement for statements in groups for statement in statements]))
            return [None] * len(groups)
        except Duplicate:
            pass

        async def work(conn: _AsyncConnection) -> list[Duplicate | None]:
            outcomes: list[Duplicate | None] = []
            async with conn.conn.transaction():
                for statements in groups:
                    try:
                        async with conn.conn.transaction():  # a savepoint
                            for stmt, params in statements:
                                await conn.execute(stmt, params)
                    except psycopg.IntegrityError as exc:
                        outcomes.append(Duplicate(str(exc)))
                    else:
                        outcomes.append(None)
            return outcomes

        return await self._awaited(work)

    async def _awaited(self, work: Callable[[_AsyncConnection], Awaitable[R]], *, timeout: float | None = None) -> R:
        """`work` on a connection of this loop (an idle one, a new one below the limit, else the next one
        given back), given back after; a unique violation is Duplicate (the connection stays), any other
        failure closes the connection and, from the database, answers StorageUnavailable."""
        loop = asyncio.get_running_loop()
        conns = self._loops.get(loop)
        if conns is None:
            conns = self._loops[loop] = _LoopConnections()
        conn: _AsyncConnection | None = None
        held = False  # a place among the loop's connections is this call's (to give back, or to drop)
        try:
            async with asyncio.timeout(timeout):
                conn = await conns.take(loop)
                held = True
                if conn is None:
                    conn = _AsyncConnection(await psycopg.AsyncConnection.connect(
                        self._conninfo, autocommit=True, prepare_threshold=0, connect_timeout=CONNECT_TIMEOUT,
                        application_name=APPLICATION_NAME))
                result = await work(conn)
        except psycopg.IntegrityError as exc:
            assert conn is not None
            conns.give(conn)
            raise Duplicate(str(exc)) from exc
        except psycopg.errors.PipelineAborted as exc:
            conns.drop(conn)  # the connection is left as the aborted pipeline left it
            raise _Aborted() from exc
        except (psycopg.Error, TimeoutError) as exc:
            if held:
                conns.drop(conn)  # broken, or interrupted mid-statement: never reused
            if isinstance(exc, psycopg.OperationalError):  # the server restarted? its idle ones died too
                conns.drop_idle()
            raise StorageUnavailable("database error" if isinstance(exc, psycopg.Error) and not isinstance(
                exc, psycopg.OperationalError | psycopg.InterfaceError) else "database unreachable") from exc
        except BaseException:
            if held:
                conns.drop(conn)
            raise
        conns.give(conn)
        return result

    def close(self) -> None:
        loops, self._loops = list(self._loops.values()), weakref.WeakKeyDictionary()
        for conns in loops:
            conns.drop_idle()
        self._pool.close()
