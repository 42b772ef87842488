"""SQL administrator accounts (through SQLAlchemy)."""

from __future__ import annotations

from sqlalchemy import delete, insert, select, update

from credo.domain.models import AdminUser
from credo.storage.sql import tables as t
from credo.storage.sql.repo import _Repo, _unavailable


class SqlAdmins(_Repo):
    @_unavailable
    def get(self, username: str) -> AdminUser | None:
        with self._read() as conn:
            row = conn.execute(select(t.admins).where(t.admins.c.username == username)).first()
        return None if row is None else AdminUser(row.username, row.password_hash, row.created_at,
                                                  bool(row.must_change_password))

    @_unavailable
    def all(self) -> list[AdminUser]:
        with self._read() as conn:
            return [AdminUser(r.username, r.password_hash, r.created_at, bool(r.must_change_password))
                    for r in conn.execute(select(t.admins).order_by(t.admins.c.username))]

    @_unavailable
    def put(self, admin: AdminUser) -> None:
        values = {"password_hash": admin.password_hash, "created_at": admin.created_at,
                  "must_change_password": admin.must_change_password}
        with self._write() as conn:
            q = update(t.admins).where(t.admins.c.username == admin.username).values(**values)
            if conn.execute(q).rowcount == 0:
                conn.execute(insert(t.admins).values(username=admin.username, **values))

    @_unavailable
    def delete(self, username: str) -> bool:
        with self._write() as conn:
            return bool(conn.execute(delete(t.admins).where(t.admins.c.username == username)).rowcount)
