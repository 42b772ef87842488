"""Engine creation: SQLite (WAL, immediate write transactions) or PostgreSQL (psycopg 3)."""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.pool import NullPool


def make_engine(url: str, *, sqlite_synchronous: str = "NORMAL") -> Engine:
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    if url.startswith("sqlite"):
        memory = url in ("sqlite://", "sqlite:///:memory:")
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 10},
                               **({} if not memory else {"poolclass": NullPool}))
        _sqlite_pragmas(engine, sqlite_synchronous)
        return engine
    return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


def _sqlite_pragmas(engine: Engine, synchronous: str) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute("PRAGMA busy_timeout=10000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "handle_error")
    def _unusable_file(context: Any) -> None:
        # The file is no SQLite database any more (damaged, or replaced under us): drop the pooled
        # connections, as for a lost server connection, so they reopen the file once it is repaired.
        if is_unusable_file(context.original_exception):
            context.is_disconnect = True

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        # Writers take the write lock up front, so two writers never deadlock on a lock upgrade;
        # readers use a deferred transaction and never block each other (WAL).
        mode = "BEGIN" if conn.get_execution_options().get("credo_read") else "BEGIN IMMEDIATE"
        conn.exec_driver_sql(mode)


def is_unusable_file(exc: BaseException) -> bool:
    """sqlite3's errors for a database file that cannot be used at all (not a busy or constraint error)."""
    text = str(exc)
    return type(exc) is sqlite3.DatabaseError and ("not a database" in text or "malformed" in text)
