"""The SQLite fast path: plain DB-API statements for the few queries on the hot path.

SQLAlchemy Core costs tens of microseconds per statement (compilation cache lookups, pool checkout,
events); the token and introspection endpoints run a handful of fixed, single-row statements, so on
SQLite they go straight to `sqlite3`. Each thread gets its own connections, taken from the engine (so
they carry the same pragmas: WAL, synchronous, busy timeout) and kept for the thread's life.

Each thread has two connections: one runs the statements, the other reads `PRAGMA data_version`, which
changes whenever another connection (in this or any other process) commits. Every commit that can move
the change counter is made on another connection, so it moves the probe, which makes the change counter
cheap to poll and exact. The probe also writes the audit rows (`write_quiet`): they never move the
counter, and a connection's own commits leave its `data_version` alone, so they cost no counter re-read.
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

P = ParamSpec("P")
R = TypeVar("R")


def guarded(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn sqlite3's operational errors into StorageUnavailable (the edge answers 503)."""

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except sqlite3.OperationalError as exc:
            raise StorageUnavailable("database busy" if "locked" in str(exc) else "database unreachable") from exc
        except sqlite3.DatabaseError as exc:
            if not is_unusable_file(exc):
                raise
            args[0].forget_thread_connections()  # type: ignore[attr-defined]
            raise StorageUnavailable("database unusable") from exc

    return wrapper


class _PerThread(threading.local):
    conn: sqlite3.Connection | None = None
    probe: sqlite3.Connection | None = None
    data_version: int = -1
    counter: int = 0


CHECKPOINT_EVERY = 0.2  # seconds between background checkpoints while there are writes
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
            self._start_checkpointer()
            conn.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
        return conn

    def _start_checkpointer(self) -> None:
        with self._lock:
            if self._checkpointer is None and not self._closed:
                self._checkpointer = _Checkpointer(self._open)
                self._checkpointer.start()

    def _wrote(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.dirty = True

    @guarded
    def one(self, sql: str, params: tuple[Any, ...]) -> tuple[Any, ...] | None:
        row: tuple[Any, ...] | None = self._conn().execute(sql, params).fetchone()
        return row

    @guarded
    def write(self, sql: str, params: tuple[Any, ...]) -> int:
        """One statement in its own transaction (autocommit); raises sqlite3.IntegrityError on a duplicate."""
        count = self._conn().execute(sql, params).rowcount
        self._wrote()
        return count

    @guarded
    def transaction(self, statements: list[tuple[str, tuple[Any, ...]]]) -> None:
        """Several statements in one write transaction (all or nothing); sqlite3.IntegrityError propagates."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            for sql, params in statements:
                conn.execute(sql, params)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        self._wrote()

    def _probe(self) -> sqlite3.Connection:
        probe = self._local.probe
        if probe is None:
            probe = self._local.probe = self._open()
            self._start_checkpointer()  # it writes audit rows
            probe.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
        return probe

    @guarded
    def write_quiet(self, statements: list[tuple[str, tuple[Any, ...]]]) -> None:
        """Statements that never touch the change counter (audit rows), committed on the probe connection
        (one autocommit statement, or one transaction for several). Not for anything a cache depends on."""
        probe = self._probe()
        if len(statements) == 1:
            probe.execute(*statements[0])
        else:
            probe.execute("BEGIN IMMEDIATE")
            try:
                for sql, params in statements:
                    probe.execute(sql, params)
                probe.execute("COMMIT")
            except BaseException:
                probe.execute("ROLLBACK")
                raise
        self._wrote()

    @guarded
    def change_counter(self) -> int:
        local = self._local
        probe = self._probe()
        version = probe.execute("PRAGMA data_version").fetchone()[0]
        if version != local.data_version:
            # data_version first, then the counter: a commit in between only causes one extra read later.
            row = probe.execute("SELECT n FROM change_counter WHERE id = 1").fetchone()
            local.data_version, local.counter = version, int(row[0]) if row else 0
        return local.counter

    def forget_thread_connections(self) -> None:
        """Close this thread's connections, so the next call reopens the file (after it was repaired)."""
        local = self._local
        for conn in (local.conn, local.probe):
            if conn is not None:
                with self._lock:
                    if conn in self._opened:
                        self._opened.remove(conn)
                conn.close()
        local.conn = local.probe = None
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
