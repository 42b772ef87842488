"""The fixed statements of the fast paths (same tables and row format as tables.py / store.py).

Written with SQLite's `?` placeholders; the PostgreSQL fast path converts them (fast_pg.pg_sql)."""

from __future__ import annotations

from functools import cache
from typing import Any, NamedTuple

from credo.domain.models import TokenRecord


class Duplicate(Exception):
    """A fast path statement broke a unique constraint (the driver's IntegrityError, whichever driver)."""


COUNTER_SQL = "SELECT n FROM change_counter WHERE id = 1"


class ClientRow(NamedTuple):
    realm: str
    client_id: str
    kind: str
    dynamic: int
    enabled: int
    created_at: int
    updated_at: int
    secret_hash: str | None
    registration_token_hash: str | None
    registration_token_expires_at: int | None
    data: str


CLIENT_SQL = (f"SELECT {', '.join(ClientRow._fields)} FROM clients "  # noqa: S608 - fixed column names
              "WHERE realm = ? AND client_id = ?")
TOUCH_SQL = "UPDATE clients SET last_used_at = ? WHERE realm = ? AND client_id = ?"

TOKEN_COLUMNS = ("token_hash", "realm", "jti", "kind", "client_id", "sub", "scopes", "issued_at", "expires_at", "claims")
TOKEN_GET_SQL = f"SELECT {', '.join(TOKEN_COLUMNS)} FROM tokens WHERE token_hash = ?"  # noqa: S608
TOKEN_INSERT_SQL = (f"INSERT INTO tokens ({', '.join(TOKEN_COLUMNS)}) "  # noqa: S608
                    f"VALUES ({', '.join('?' * len(TOKEN_COLUMNS))})")

BURN_SQL = "INSERT INTO one_time_ids (realm, id, expires_at) VALUES (?, ?, ?)"
IS_BURNED_SQL = "SELECT 1 FROM one_time_ids WHERE realm = ? AND id = ?"


@cache
def any_burned_sql(count: int) -> str:
    """One statement for `count` ids (parameters: realm, then the ids). A UNION ALL of primary-key
    lookups: SQLite runs `id IN (...)` through a temporary index, which costs as much as two queries."""
    return " UNION ALL ".join(f"SELECT 1 FROM one_time_ids WHERE realm = ?1 AND id = ?{i}"  # noqa: S608
                              for i in range(2, count + 2)) + " LIMIT 1"


def token_params(record: TokenRecord, claims_json: str) -> tuple[Any, ...]:
    return (record.token_hash, record.realm, record.jti, record.kind, record.client_id, record.sub,
            " ".join(record.scopes), record.issued_at, record.expires_at, claims_json)

REALM_SQL = "SELECT name, settings, created_at FROM realms WHERE name = ?"
CLIENT_COLUMNS = ("realm", "client_id", "kind", "dynamic", "enabled", "created_at", "updated_at", "secret_hash",
                  "registration_token_hash", "registration_token_expires_at", "data")
CLIENT_INSERT_SQL = (f"INSERT INTO clients ({', '.join(CLIENT_COLUMNS)}) "  # noqa: S608
                     f"VALUES ({', '.join('?' * len(CLIENT_COLUMNS))})")
AUDIT_INSERT_SQL = ("INSERT INTO audit_events (realm, ts, action, actor, decision, target, reason, details) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)")


def client_params(values: dict[str, Any]) -> tuple[Any, ...]:
    """The insert parameters from store.py's `_client_values` (booleans stay booleans: sqlite3 stores
    them as 0 and 1, PostgreSQL's columns are boolean)."""
    return tuple(values[c] for c in CLIENT_COLUMNS)
