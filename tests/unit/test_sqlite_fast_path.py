"""The SQLite fast path: the change counter seen through `data_version` is exact across connections, and
WAL pages are checkpointed in the background although the hot connections never checkpoint."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from sqlalchemy import Column, MetaData, String, Table

from credo.domain.models import AuditEvent, Client, TokenRecord
from credo.storage.sql import tables as t
from credo.storage.sql.engine import make_engine
from credo.storage.sql.migrate import upgrade
from credo.storage.sql.statements import AUDIT_INSERT, CLIENT_INSERT, TOKEN_INSERT, any_burned, insert_row
from credo.storage.sql.store import SqlStorage


def _storage(path: Path) -> SqlStorage:
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    return SqlStorage(engine)


def test_change_counter_follows_commits_of_other_connections(tmp_path: Path) -> None:
    one, two = _storage(tmp_path / "c.db"), _storage(tmp_path / "c.db")
    try:
        assert one.fast is not None
        start = one.change_counter()
        assert one.change_counter() == start  # nothing committed: no change
        two.clients.create(Client(realm="r", client_id="a"))
        assert one.change_counter() == start  # a creation is not a change any cache must see
        two.clients.update(Client(realm="r", client_id="a", name="renamed"))
        assert one.change_counter() == start + 1
        two.tokens.add(TokenRecord(token_hash="h", realm="r", jti="j", kind="access_token", client_id="a", sub="a",
                                   scopes=(), issued_at=1, expires_at=2, claims={}))
        assert one.change_counter() == start + 1  # a commit that is not a client/realm change
        one.clients.delete("r", "a")  # through SQLAlchemy, another connection of the same storage
        assert one.change_counter() == start + 2
        one.tokens.add(TokenRecord(token_hash="h2", realm="r", jti="j2", kind="access_token", client_id="a",
                                   sub="a", scopes=(), issued_at=1, expires_at=2, claims={}))  # its own write
        assert one.change_counter() == start + 2
        with sqlite3.connect(tmp_path / "c.db") as raw:  # any other writer, e.g. another process
            raw.execute("UPDATE change_counter SET n = n + 5 WHERE id = 1")
        assert one.change_counter() == start + 7  # seen although `one` polls on the connection it writes with
    finally:
        one.close()
        two.close()


def test_wal_is_checkpointed_in_the_background(tmp_path: Path) -> None:
    db = tmp_path / "w.db"
    storage = _storage(db)
    try:
        storage.one_time.burn("r", "first", 10**10)
        time.sleep(0.5)  # the checkpointer has copied everything so far
        before = db.stat().st_size
        for i in range(150):  # a few hundred WAL pages: fewer than SQLite's own checkpoint threshold
            storage.one_time.burn("r", f"id-{i:05d}-" + "x" * 200, 10**10)
        deadline = time.monotonic() + 5
        while db.stat().st_size == before:  # the new pages reach the database file only by a checkpoint
            assert time.monotonic() < deadline, "nothing was checkpointed"
            time.sleep(0.05)
        assert storage.one_time.is_burned("r", "id-00149-" + "x" * 200)
    finally:
        storage.close()


def test_wal_stays_bounded_under_a_steady_stream_of_writes(tmp_path: Path) -> None:
    db = tmp_path / "b.db"
    storage = _storage(db)
    wal = tmp_path / "b.db-wal"
    try:
        for i in range(12_000):
            storage.one_time.burn("r", f"id-{i:05d}-" + "x" * 200, 10**10)
        assert wal.stat().st_size < 64 * 1024 * 1024, wal.stat().st_size  # 10,000 pages of 4 KB, plus slack
    finally:
        storage.close()


def test_audit_rows_cost_no_counter_reread_and_hide_no_change(tmp_path: Path) -> None:
    """Audit rows are committed on the thread's own connection, which also polls data_version: its own
    commits leave data_version alone (no counter re-read on the next poll), while every other connection's
    commit still moves it."""
    one, two = _storage(tmp_path / "a.db"), _storage(tmp_path / "a.db")
    try:
        assert one.fast is not None
        start = one.change_counter()
        conn = one.fast._local.conn
        assert conn is not None
        statements: list[str] = []
        conn.set_trace_callback(statements.append)
        one.audit.add_many([AuditEvent(realm="r", action="token_exchange", actor="a", ts=1)])
        one.audit.add(AuditEvent(realm="r", action="token_exchange", actor="a", ts=2))
        one.audit.add_many([AuditEvent(realm="r", action="token_exchange", actor=f"b{i}", ts=3) for i in range(3)])
        statements.clear()
        assert one.change_counter() == start
        assert statements == ["PRAGMA data_version"]  # the counter itself was not read again
        assert [e.actor for e in two.audit.query("r", limit=10)].count("a") == 2  # committed, seen elsewhere
        two.clients.create(Client(realm="r", client_id="c"))
        two.clients.update(Client(realm="r", client_id="c", name="renamed"))  # an update moves the counter
        one.audit.add(AuditEvent(realm="r", action="token_exchange", actor="a", ts=4))
        assert one.change_counter() == start + 1  # another connection's change is still seen
    finally:
        one.close()
        two.close()


def test_hot_statements_are_compiled_from_the_tables() -> None:
    """The driver statements name the columns of tables.py (no hand-written list to drift), and a row
    that lacks a value for one of them fails at once instead of leaving the column out."""
    assert TOKEN_INSERT.keys == tuple(c.name for c in t.tokens.columns)
    assert AUDIT_INSERT.keys == tuple(c.name for c in t.audit_events.columns if c.name != "id")
    assert CLIENT_INSERT.keys == tuple(c.name for c in t.clients.columns if c.name != "last_used_at")
    assert TOKEN_INSERT.sqlite.startswith("INSERT INTO tokens (token_hash, realm,") and "?" in TOKEN_INSERT.sqlite
    assert "%s" in TOKEN_INSERT.postgresql and "?" not in TOKEN_INSERT.postgresql
    table = Table("x", MetaData(), Column("a", String, primary_key=True), Column("b", String))
    stmt = insert_row(table)
    assert stmt.sqlite == "INSERT INTO x (a, b) VALUES (?, ?)" and stmt.postgresql == "INSERT INTO x (a, b) VALUES (%s, %s)"
    assert stmt.params({"b": 2, "a": 1}) == (1, 2)
    with pytest.raises(KeyError):
        stmt.params({"a": 1})
    assert any_burned(3).keys == ("realm", "id") * 3
