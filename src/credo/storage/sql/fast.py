"""The SQLite fast path: plain DB-API statements for the few queries on the hot path.

SQLAlchemy Core costs tens of microseconds per statement (compilation cache lookups, pool checkout,
events); the token and introspection endpoints run a handful of fixed, single-row statements
(statements.py, compiled once from tables.py), so on SQLite they go straight to `sqlite3`, and only
this way (the repositories have no SQLAlchemy version of them). Each thread gets its own connections, taken from the engine (so
they carry the same pragmas: WAL, synchronous, busy timeout) and kept for the thread's life.

The change counters are polled through the same connection with `PRAGMA data_version`, which changes
whenever another connection (in this or any other process) commits, and not when this one does. That
is exact because no statement here moves the change counter (every bump of it goes through SQLAlchemy,
on other connections), and it spares a re-read after each of this thread's own writes (a registration,
a stateful token). The burn counter is moved here, with each burn; this thread then keeps its older
value, which is harmless: the burn was made through the cached storage, which dropped its burned ids
at once, and every other connection sees the move.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import Engine

from credo.storage.protocols import StorageUnavailable
from credo.storage.sql.engine import is_unusable_file
from credo.storage.sql.statements import COUNTER, Check, Duplicate, Statement, runs_of

P = ParamSpec("P")
R = TypeVar("R")


def _execute(conn: sqlite3.Connection, stmt: Statement, params: tuple[Any, ...]) -> None:
    cursor = conn.execute(stmt.sqlite, params)
    if isinstance(stmt, Check) and not cursor.fetchone()[0]:
        raise sqlite3.IntegrityError(stmt.refusal)


def guarded(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn sqlite3's operational errors into StorageUnavailable (the edge answers 503), and a unique
    violation into Duplicate."""

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except sqlite3.OperationalError as exc:
            raise StorageUnavailable("database busy" if "locked" in str(exc) else "database unreachable") from exc
        except sqlite3.IntegrityError as exc:
            raise Duplicate(str(exc)) from exc
        except sqlite3.DatabaseError as exc:
            if not is_unusable_file(exc):
                raise
            args[0].forget_thread_connections()  # type: ignore[attr-defined]
            raise StorageUnavailable("database unusable") from exc

    return wrapper


class _PerThread(threading.local):
    conn: sqlite3.Connection | None = None
    data_version: int = -1
    counters: tuple[int, int] = (0, 0)


CHECKPOINT_EVERY = 0.02  # seconds between background checkpoints while there are writes
WAL_AUTOCHECKPOINT_PAGES = 10_000  # the WAL stays under ~40 MB; SQLite's default is 1,000


class _Checkpointer(threading.Thread):
    """Copies committed WAL pages into the database file off the request path.

    A PASSIVE checkpoint (it never blocks readers or writers) runs a few times a second while there are
    writes. Writing connections keep SQLite's automatic checkpoint, every 10,000 WAL pages instead of
    1,000: under a steady stream of writes a passive checkpoint never catches up completely, and only a
    checkpoint that does lets the next writer restart the WAL from its beginning, which keeps the file
    bounded. That one runs inside a request, but rarely, and finds most pages already copied here, so
    its cost (mostly one fsync) is spread over thousands of writes.
    """

    def __init__(self, open_connection: Callable[[], sqlite3.Connection]) -> None:
        super().__init__(name="credo-sqlite-checkpoint", daemon=True)
        self._open = open_connection
        self.dirty = False
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            conn = self._open()
        except StorageUnavailable:
            return  # closed before the thread started
        while not self.stop.wait(CHECKPOINT_EVERY):
            if self.dirty:
                self.dirty = False
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error:
                    self.dirty = True  # try again next time


class SqliteFastPath:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._local = _PerThread()
        self._opened: list[Any] = []
        self._lock = threading.Lock()
        self._closed = False
        self._checkpointer: _Checkpointer | None = None

    @staticmethod
    def supports(engine: Engine) -> bool:
        return engine.url.get_backend_name() == "sqlite" and engine.url.database not in (None, "", ":memory:")

    def _open(self) -> sqlite3.Connection:
        if self._closed:
            raise StorageUnavailable("storage closed")
        fairy = self._engine.raw_connection()
        conn: sqlite3.Connection = fairy.driver_connection  # type: ignore[assignment]
        fairy.detach()  # ours for the thread's life; the pool neither recycles nor shares it
        with self._lock:
            self._opened.append(conn)
        return conn

    def _conn(self) -> sqlite3.Connection:
        conn = self._local.conn
        if conn is None:
            conn = self._local.conn = self._open()
            with self._lock:
                if self._checkpointer is None and not self._closed:
                    self._checkpointer = _Checkpointer(self._open)
                    self._checkpointer.start()
            conn.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
        return conn

    def _wrote(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.dirty = True

    @guarded
    def one(self, stmt: Statement, params: tuple[Any, ...]) -> tuple[Any, ...] | None:
        row: tuple[Any, ...] | None = self._conn().execute(stmt.sqlite, params).fetchone()
        return row

    @guarded
    def write(self, stmt: Statement, params: tuple[Any, ...]) -> int:
        """One statement in its own transaction (autocommit); raises Duplicate on a unique violation."""
        count = self._conn().execute(stmt.sqlite, params).rowcount
        self._wrote()
        return count

    @guarded
    def transaction(self, statements: list[tuple[Statement, tuple[Any, ...]]]) -> None:
        """Several statements in one write transaction (all or nothing); Duplicate propagates. A run of
        the same plain statement (a batch's audit events) goes as one `executemany`."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            for stmt, rows in runs_of(statements):
                if len(rows) > 1:
                    conn.executemany(stmt.sqlite, rows)
                else:
                    _execute(conn, stmt, rows[0])
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        self._wrote()

    @guarded
    def transaction_each(self, groups: list[list[tuple[Statement, tuple[Any, ...]]]]) -> list[Duplicate | None]:
        """Groups of statements in one write transaction (one commit), each group all or nothing on its
        own (a savepoint each): a unique violation undoes only its group and is returned in its place;
        any other error undoes everything and propagates."""
        conn = self._conn()
        outcomes: list[Duplicate | None] = []
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statements in groups:
                conn.execute("SAVEPOINT item")
                try:
                    for stmt, params in statements:
                        _execute(conn, stmt, params)
                except sqlite3.IntegrityError as exc:
                    conn.execute("ROLLBACK TO item")
                    outcomes.append(Duplicate(str(exc)))
                else:
                    outcomes.append(None)
                conn.execute("RELEASE item")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        self._wrote()
        return outcomes

    @guarded
    def counters(self) -> tuple[int, int]:
        local = self._local
        conn = self._conn()
        version = conn.execute("PRAGMA data_version").fetchone()[0]
        if version != local.data_version:
            # data_version first, then the counters: a commit in between only causes one extra read later.
            row = conn.execute(COUNTER.sqlite).fetchone()
            local.data_version, local.counters = version, (int(row[0]), int(row[1])) if row else (0, 0)
        return local.counters

    async def counters_awaited(self) -> tuple[int, int]:
        return self.counters()  # a local read: nothing travels

    async def write_awaited(self, stmt: Statement, params: tuple[Any, ...]) -> int:
        return self.write(stmt, params)  # a local write (the WAL, not flushed): nothing travels

    def forget_thread_connections(self) -> None:
        """Close this thread's connections, so the next call reopens the file (after it was repaired)."""
        local = self._local
        conn = local.conn
        if conn is not None:
            with self._lock:
                if conn in self._opened:
                    self._opened.remove(conn)
            conn.close()
        local.conn = None
        local.data_version = -1

    def close(self) -> None:
        with self._lock:
            self._closed = True
            opened, self._opened = self._opened, []
            checkpointer, self._checkpointer = self._checkpointer, None
        if checkpointer is not None:
            checkpointer.stop.set()
            checkpointer.join(timeout=2)
        for conn in opened:
            try:
                conn.close()
            except Exception:  # noqa: S110 - closing at shutdown, another thread may be using it
                pass
