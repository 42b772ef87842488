"""SQL scripts (through SQLAlchemy)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select, update

from credo.domain.models import Script
from credo.storage.sql import tables as t
from credo.storage.sql.repo import _Repo, _unavailable


def _script(row: Any) -> Script:
    return Script(realm=row.realm, id=row.id, name=row.name, source=row.source, description=row.description,
                  type=row.type, created_at=row.created_at, updated_at=row.updated_at)


class SqlScripts(_Repo):
    @_unavailable
    def get(self, realm: str, script_id: str) -> Script | None:
        with self._read() as conn:
            row = conn.execute(select(t.scripts).where(t.scripts.c.realm == realm,
                                                       t.scripts.c.id == script_id)).first()
        return None if row is None else _script(row)

    @_unavailable
    def all(self, realm: str) -> list[Script]:
        with self._read() as conn:
            q = select(t.scripts).where(t.scripts.c.realm == realm).order_by(t.scripts.c.name)
            return [_script(r) for r in conn.execute(q)]

    @_unavailable
    def put(self, script: Script) -> None:
        values = {"name": script.name, "description": script.description, "type": script.type,
                  "source": script.source, "created_at": script.created_at, "updated_at": script.updated_at}
        with self._write(bump=True) as conn:
            q = update(t.scripts).where(t.scripts.c.realm == script.realm, t.scripts.c.id == script.id)
            if conn.execute(q.values(**values)).rowcount == 0:
                conn.execute(insert(t.scripts).values(realm=script.realm, id=script.id, **values))

    @_unavailable
    def delete(self, realm: str, script_id: str) -> bool:
        with self._write(bump=True) as conn:
            return bool(conn.execute(delete(t.scripts).where(t.scripts.c.realm == realm,
                                                             t.scripts.c.id == script_id)).rowcount)
