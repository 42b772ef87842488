"""SQL token records and one-time ids. Storing, reading and burning are hot statements (driver only);
deleting and purging are administration (SQLAlchemy)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import delete, select, update

from credo.domain.models import AuditEvent, TokenRecord
from credo.storage.protocols import Conflict
from credo.storage.sql import tables as t
from credo.storage.sql.audit import audit_params
from credo.storage.sql.repo import Statements, _dumps, _Repo, _unavailable
from credo.storage.sql.statements import (
    AUDIT_INSERT,
    BURN,
    BURNS_BUMP,
    IS_BURNED,
    TOKEN_GET,
    TOKEN_INSERT,
    Duplicate,
    any_burned,
    row_type,
)

_TokenRow = row_type("TokenRow", t.tokens)


def _token_values(record: TokenRecord) -> dict[str, Any]:
    return {"token_hash": record.token_hash, "realm": record.realm, "jti": record.jti, "kind": record.kind,
            "client_id": record.client_id, "sub": record.sub, "scopes": " ".join(record.scopes),
            "issued_at": record.issued_at, "expires_at": record.expires_at, "claims": _dumps(record.claims)}


def _move_burns(conn: Any) -> None:
    """Move the burn counter in the caller's transaction: caches of burned ids and token records follow it."""
    conn.execute(update(t.change_counter).where(t.change_counter.c.id == 1).values(burns=t.change_counter.c.burns + 1))


def token_statements(records: Sequence[TokenRecord], audit: Sequence[AuditEvent]) -> Statements:
    """The rows of `add_many`: the token records, then the audit events."""
    statements: Statements = [(TOKEN_INSERT, TOKEN_INSERT.params(_token_values(r))) for r in records]
    statements += [(AUDIT_INSERT, audit_params(event)) for event in audit]
    return statements


class SqlTokens(_Repo):
    @_unavailable
    def add(self, record: TokenRecord) -> None:
        try:
            self._fast.write(TOKEN_INSERT, TOKEN_INSERT.params(_token_values(record)))
        except Duplicate as exc:
            raise Conflict("token exists") from exc

    @_unavailable
    def add_many(self, records: list[TokenRecord], *, audit: Sequence[AuditEvent] = ()) -> None:
        """One transaction for the records and the events (one commit: on PostgreSQL one log flush)."""
        statements = token_statements(records, audit)
        if not statements:
            return
        try:
            if len(statements) == 1:  # autocommit: one statement instead of BEGIN, INSERT, COMMIT
                self._fast.write(*statements[0])
            else:
                self._fast.transaction(statements)
        except Duplicate as exc:
            raise Conflict("token exists") from exc

    @_unavailable
    def get(self, token_hash: str) -> TokenRecord | None:
        raw = self._fast.one(TOKEN_GET, (token_hash,))
        if raw is None:
            return None
        row = _TokenRow._make(raw)
        return TokenRecord(token_hash=row.token_hash, realm=row.realm, jti=row.jti, kind=row.kind,
                           client_id=row.client_id, sub=row.sub, scopes=tuple(row.scopes.split()),
                           issued_at=row.issued_at, expires_at=row.expires_at, claims=orjson.loads(row.claims))

    @_unavailable
    def delete(self, token_hash: str) -> bool:
        """The record deleted, and the burn counter moved in the same transaction (caches of token records)."""
        with self._write() as conn:
            deleted = bool(conn.execute(delete(t.tokens).where(t.tokens.c.token_hash == token_hash)).rowcount)
            if deleted:
                _move_burns(conn)
            return deleted

    @_unavailable
    def of_realm(self, realm: str, now: int, *, sub: str | None = None, client_id: str | None = None,
                 kinds: tuple[str, ...] | None = None, limit: int | None = None) -> list[TokenRecord]:
        c = t.tokens.c
        query = select(t.tokens).where(c.realm == realm, c.expires_at > now)
        if sub is not None:
            query = query.where(c.sub == sub)
        if client_id is not None:
            query = query.where(c.client_id == client_id)
        if kinds is not None:
            query = query.where(c.kind.in_(kinds))
        query = query.order_by(c.issued_at, c.jti).limit(limit)
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [TokenRecord(token_hash=r.token_hash, realm=r.realm, jti=r.jti, kind=r.kind, client_id=r.client_id,
                            sub=r.sub, scopes=tuple(r.scopes.split()), issued_at=r.issued_at,
                            expires_at=r.expires_at, claims=orjson.loads(r.claims)) for r in rows]

    @_unavailable
    def purge_expired(self, now: int) -> int:
        with self._write() as conn:
            purged = int(conn.execute(delete(t.tokens).where(t.tokens.c.expires_at <= now)).rowcount)
            if purged:
                _move_burns(conn)
            return purged


class SqlOneTime(_Repo):
    @_unavailable
    def burn(self, realm: str, one_time_id: str, expires_at: int) -> bool:
        """Compare-and-insert, and the burn counter moved in the same transaction (caches of burned ids)."""
        try:
            self._fast.transaction([(BURN, (realm, one_time_id, expires_at)), (BURNS_BUMP, ())])
        except Duplicate:
            return False
        return True

    @_unavailable
    def is_burned(self, realm: str, one_time_id: str) -> bool:
        return self._fast.one(IS_BURNED, (realm, one_time_id)) is not None

    @_unavailable
    def any_burned(self, realm: str, one_time_ids: tuple[str, ...]) -> bool:
        if len(one_time_ids) == 1:
            return self.is_burned(realm, one_time_ids[0])
        if not one_time_ids:
            return False
        params = tuple(value for one_time_id in one_time_ids for value in (realm, one_time_id))
        return self._fast.one(any_burned(len(one_time_ids)), params) is not None

    @_unavailable
    def purge_expired(self, now: int) -> int:
        with self._write() as conn:
            purged = int(conn.execute(delete(t.one_time_ids).where(t.one_time_ids.c.expires_at <= now)).rowcount)
            if purged:
                _move_burns(conn)
            return purged
