"""The hot statements, compiled once at import from the tables of tables.py, for each driver.

The token, introspection and registration endpoints run a handful of fixed statements straight on the
database driver (sqlite3, psycopg: fast.py, fast_pg.py), without SQLAlchemy's per-statement cost. Their
text is not written by hand: each is a SQLAlchemy Core statement over the Table of tables.py, compiled
here once per dialect to the driver's positional placeholders (`?` for sqlite3, `%s` for psycopg). An
insert names every column of its table (but the ones listed as left out), and its parameters are picked
from the row's values by column name, so a column added to the schema without a value fails at once
instead of being silently left out.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Mapping
from functools import cache
from operator import itemgetter
from typing import Any, cast

from sqlalchemy import Integer, Table, bindparam, func, insert, literal_column, select, true, update
from sqlalchemy.dialects import postgresql as postgresql_dialect
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.postgresql import psycopg2
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement

from credo.storage.sql import tables as t

# Only the SQL text is taken from these dialects, never a connection: psycopg2's PostgreSQL compiler writes
# plain `%s` placeholders (psycopg's SQLAlchemy dialect would add a type cast to each), which psycopg 3 runs.
_SQLITE = sqlite.dialect(paramstyle="qmark")
_POSTGRES = psycopg2.dialect(paramstyle="format")  # type: ignore[no-untyped-call]


class Duplicate(Exception):
    """A hot statement broke a unique constraint (the driver's IntegrityError, whichever driver)."""


class Statement:
    """One statement's text for each driver, and the names of its parameters in the order they are passed."""

    __slots__ = ("_pick", "keys", "postgresql", "sqlite")

    def __init__(self, sqlite_sql: str, postgresql_sql: str, keys: tuple[str, ...]) -> None:
        self.sqlite = sqlite_sql
        self.postgresql = postgresql_sql
        self.keys = keys
        self._pick = itemgetter(*keys) if len(keys) > 1 else None

    def params(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        """The parameters from a row's values by column name (KeyError: a column has no value)."""
        if self._pick is None:
            return tuple(values[k] for k in self.keys)
        picked: tuple[Any, ...] = self._pick(values)
        return picked

    def __repr__(self) -> str:
        return f"Statement({self.sqlite!r})"


class Check(Statement):
    """A statement answering one row whose first value must be true: otherwise the drivers (fast.py,
    fast_pg.py) fail its transaction, or its group of one, as a unique violation would, with `refusal`
    in the message."""

    __slots__ = ("refusal",)

    def __init__(self, stmt: Statement, refusal: str) -> None:
        super().__init__(stmt.sqlite, stmt.postgresql, stmt.keys)
        self.refusal = refusal


def runs_of(statements: list[tuple[Statement, tuple[Any, ...]]]) -> list[tuple[Statement, list[tuple[Any, ...]]]]:
    """The statements in order, a run of the same plain statement (a batch's token rows, its audit events)
    as one entry with all its rows, for the drivers to send as one `executemany` (fast.py, fast_pg.py):
    the same rows for a fraction of the client's work per row. A check stays alone (its answer is read
    where it stands)."""
    runs: list[tuple[Statement, list[tuple[Any, ...]]]] = []
    for stmt, params in statements:
        if runs and runs[-1][0] is stmt and not isinstance(stmt, Check):
            runs[-1][1].append(params)
        else:
            runs.append((stmt, [params]))
    return runs


def compiled(stmt: ClauseElement, *, keys: tuple[str, ...]) -> Statement:
    """`stmt` compiled for both drivers; `keys` is the parameter order the caller passes (checked here)."""
    texts = []
    for dialect in (_SQLITE, _POSTGRES):
        c = cast(SQLCompiler, stmt.compile(dialect=dialect))
        if tuple(c.positiontup or ()) != keys:
            raise AssertionError(f"{stmt}: parameters {c.positiontup}, expected {keys}")
        texts.append(" ".join(str(c).split()))
    return Statement(texts[0], texts[1], keys)


class Insert(Statement):
    """An INSERT of one row; on PostgreSQL also its head (`INSERT INTO t (...) VALUES `), so that several
    rows (of one or more tables) can go as one statement (fast_pg.py)."""

    __slots__ = ("pg_head",)

    def __init__(self, stmt: Statement) -> None:
        super().__init__(stmt.sqlite, stmt.postgresql, stmt.keys)
        head, sep, row = stmt.postgresql.rpartition(" VALUES ")
        if not sep or row != "(" + ", ".join(["%s"] * len(stmt.keys)) + ")":
            raise AssertionError(f"not a one-row insert of its keys: {stmt.postgresql}")
        self.pg_head = head + sep


def insert_row(table: Table, *, leave_out: tuple[str, ...] = ()) -> Insert:
    """INSERT of one row: every column of `table` but an autoincrement key and `leave_out`."""
    names = tuple(c.name for c in table.columns
                  if c is not table.autoincrement_column and c.name not in leave_out)
    return Insert(compiled(insert(table).inline().values({n: bindparam(n) for n in names}), keys=names))


def select_row(table: Table, *key: str) -> Statement:
    """SELECT of every column of `table` (in its order) where the `key` columns equal the parameters."""
    return compiled(select(table).where(*(table.c[k] == bindparam(k) for k in key)), keys=key)


def columns(table: Table) -> tuple[str, ...]:
    """The column names of `table`, in the order `select_row` returns them."""
    return tuple(c.name for c in table.columns)


# --- the hot statements ----------------------------------------------------------------------------

# Both counters in one read (one round trip on PostgreSQL): records (`n`) and burned one-time ids (`burns`).
COUNTER = compiled(select(t.change_counter.c.n, t.change_counter.c.burns)
                   .where(t.change_counter.c.id == literal_column("1")), keys=())
BURNS_BUMP = compiled(update(t.change_counter).where(t.change_counter.c.id == literal_column("1"))
                      .values(burns=t.change_counter.c.burns + literal_column("1")), keys=())

REALM_GET = select_row(t.realms, "name")

CLIENT_GET = select_row(t.clients, "realm", "client_id")
# last_used_at is only written by TOUCH (a new client has never been used).
CLIENT_INSERT = insert_row(t.clients, leave_out=("last_used_at",))
CLIENT_RESOURCE_INSERT = insert_row(t.client_resources)
if CLIENT_RESOURCE_INSERT.keys != ("realm", "resource", "client_id"):  # client_resource_params passes these
    raise AssertionError(CLIENT_RESOURCE_INSERT.keys)
TOUCH = compiled(update(t.clients).where(t.clients.c.realm == bindparam("realm"),
                                         t.clients.c.client_id == bindparam("client_id"))
                 .values(last_used_at=bindparam("last_used_at")), keys=("last_used_at", "realm", "client_id"))

TOKEN_GET = select_row(t.tokens, "token_hash")
TOKEN_INSERT = insert_row(t.tokens)

AUDIT_INSERT = insert_row(t.audit_events)

BURN = insert_row(t.one_time_ids)

# A registration under a limit of dynamic clients: the realm row locked (PostgreSQL; SQLite's write
# transaction holds the whole file) and then, in a statement of its own that sees every commit made before
# the lock was granted, the room left checked, all in the creation's transaction.
MAX_CLIENTS_REFUSAL = "max_clients reached"
REALM_LOCK = compiled(select(t.realms.c.name).where(t.realms.c.name == bindparam("realm")).with_for_update(),
                      keys=("realm",))
DYNAMIC_ROOM = Check(compiled(select(func.count() < bindparam("limit", type_=Integer)).select_from(t.clients)
                              .where(t.clients.c.realm == bindparam("realm"), t.clients.c.dynamic == true()),
                              keys=("limit", "realm")), MAX_CLIENTS_REFUSAL)
_burned = t.one_time_ids.c
IS_BURNED = compiled(select(literal_column("1")).select_from(t.one_time_ids)
                     .where(_burned.realm == bindparam("realm"), _burned.id == bindparam("id")),
                     keys=("realm", "id"))
if BURN.keys != ("realm", "id", "expires_at"):  # the callers pass these three in this order
    raise AssertionError(BURN.keys)


def _replay_mark(*, returning: bool = False) -> Statement:
    """The replay cache's one statement (`EphemeralState.first_use`): insert the mark, or take over an
    expired one; a live mark changes no row (row count 0; `returning`: no row returned). Parameters
    (key, expires_at, now)."""
    texts = []
    for module, dialect in ((sqlite, _SQLITE), (postgresql_dialect, _POSTGRES)):
        stmt = module.insert(t.replay_marks).values(key=bindparam("key"), expires_at=bindparam("expires_at"))
        stmt = stmt.on_conflict_do_update(index_elements=[t.replay_marks.c.key],
                                          set_={"expires_at": stmt.excluded.expires_at},
                                          where=t.replay_marks.c.expires_at <= bindparam("now"))
        if returning:
            stmt = stmt.returning(t.replay_marks.c.key)
        c = cast(SQLCompiler, stmt.compile(dialect=dialect))
        if tuple(c.positiontup or ()) != ("key", "expires_at", "now"):
            raise AssertionError(f"replay mark parameters {c.positiontup}")
        texts.append(" ".join(str(c).split()))
    return Statement(texts[0], texts[1], ("key", "expires_at", "now"))


REPLAY_MARK = _replay_mark()
REPLAY_MARK_RETURNING = _replay_mark(returning=True)  # the marks of a batch, each answering for itself


@cache
def any_burned(count: int) -> Statement:
    """One statement for `count` ids, parameters (realm, id) per id: a UNION ALL of primary-key lookups
    (SQLite runs `id IN (...)` through a temporary index, which costs as much as two queries)."""
    return Statement(" UNION ALL ".join([IS_BURNED.sqlite] * count) + " LIMIT 1",
                     " UNION ALL ".join([IS_BURNED.postgresql] * count) + " LIMIT 1",
                     IS_BURNED.keys * count)


def row_type(name: str, table: Table) -> Any:
    """A named tuple class for the rows `select_row(table, ...)` returns (fields: the column names)."""
    return namedtuple(name, columns(table))
