"""SQL consents (browser sign-in; through SQLAlchemy). Consents are in no cache, so their writes do not
move the change counter. Deleting a user or a client deletes its consents (users.py, clients.py)."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import delete, select

from credo.domain.models import Consent
from credo.storage.sql import tables as t
from credo.storage.sql.repo import _dumps, _Repo, _unavailable

_KEY = ("realm", "user_id", "client_id")


def _consent(row: Any) -> Consent:
    return Consent(realm=row.realm, user_id=row.user_id, client_id=row.client_id,
                   scopes=tuple(orjson.loads(row.scopes)), resources=tuple(orjson.loads(row.resources)),
                   grant_id=row.grant_id, created_at=row.created_at, updated_at=row.updated_at)


class SqlConsents(_Repo):
    def _key(self, realm: str, user_id: str, client_id: str) -> tuple[Any, ...]:
        c = t.consents.c
        return c.realm == realm, c.user_id == user_id, c.client_id == client_id

    @_unavailable
    def get(self, realm: str, user_id: str, client_id: str) -> Consent | None:
        with self._read() as conn:
            row = conn.execute(select(t.consents).where(*self._key(realm, user_id, client_id))).first()
        return None if row is None else _consent(row)

    @_unavailable
    def for_user(self, realm: str, user_id: str) -> list[Consent]:
        c = t.consents.c
        q = select(t.consents).where(c.realm == realm, c.user_id == user_id).order_by(c.client_id)
        with self._read() as conn:
            return [_consent(r) for r in conn.execute(q)]

    @_unavailable
    def put(self, consent: Consent) -> None:
        """Insert or replace, in one statement (two sign-ins racing both succeed; the later one stays)."""
        values = {"realm": consent.realm, "user_id": consent.user_id, "client_id": consent.client_id,
                  "scopes": _dumps(list(consent.scopes)), "resources": _dumps(list(consent.resources)),
                  "grant_id": consent.grant_id, "created_at": consent.created_at, "updated_at": consent.updated_at}
        q = self._insert(t.consents).values(**values)
        q = q.on_conflict_do_update(index_elements=list(_KEY),
                                    set_={k: v for k, v in values.items() if k not in _KEY})
        with self._write() as conn:
            conn.execute(q)

    @_unavailable
    def delete(self, realm: str, user_id: str, client_id: str) -> bool:
        with self._write() as conn:
            return bool(conn.execute(delete(t.consents).where(*self._key(realm, user_id, client_id))).rowcount)
