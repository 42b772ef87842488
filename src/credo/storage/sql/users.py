"""SQL users and groups (administration and password logins; through SQLAlchemy)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from credo.domain.models import Group, User
from credo.storage.protocols import Conflict
from credo.storage.sql import tables as t
from credo.storage.sql.repo import _Repo, _unavailable, escape_like


def _user(row: Any) -> User:
    return User(realm=row.realm, id=row.id, username=row.username, password_hash=row.password_hash,
                active=bool(row.active), created_at=row.created_at, name=row.name, email=row.email)


class SqlUsers(_Repo):
    @_unavailable
    def get(self, realm: str, user_id: str) -> User | None:
        with self._read() as conn:
            row = conn.execute(select(t.users).where(t.users.c.realm == realm, t.users.c.id == user_id)).first()
        return None if row is None else _user(row)

    @_unavailable
    def by_username(self, realm: str, username: str) -> User | None:
        with self._read() as conn:
            row = conn.execute(select(t.users).where(t.users.c.realm == realm,
                                                     t.users.c.username == username)).first()
        return None if row is None else _user(row)

    @_unavailable
    def all(self, realm: str) -> list[User]:
        with self._read() as conn:
            rows = conn.execute(select(t.users).where(t.users.c.realm == realm).order_by(t.users.c.username))
            return [_user(r) for r in rows]

    @_unavailable
    def search(self, realm: str, *, text: str | None = None, after: str | None = None, limit: int = 50,
               descending: bool = False) -> list[User]:
        c = t.users.c
        q = select(t.users).where(c.realm == realm)
        if text:
            like = f"%{escape_like(text.casefold())}%"
            q = q.where(func.lower(c.username).like(like, escape="\\") | func.lower(c.name).like(like, escape="\\")
                        | func.lower(c.email).like(like, escape="\\"))
        if after is not None:
            q = q.where(c.username < after if descending else c.username > after)
        q = q.order_by(c.username.desc() if descending else c.username).limit(limit)
        with self._read() as conn:
            return [_user(r) for r in conn.execute(q)]

    @_unavailable
    def count(self, realm: str) -> int:
        with self._read() as conn:
            return int(conn.execute(select(func.count()).select_from(t.users).where(t.users.c.realm == realm))
                       .scalar_one())

    @_unavailable
    def put(self, user: User) -> None:
        values = {"username": user.username, "password_hash": user.password_hash, "active": user.active,
                  "created_at": user.created_at, "name": user.name, "email": user.email}
        try:
            with self._write(bump=True) as conn:
                q = update(t.users).where(t.users.c.realm == user.realm, t.users.c.id == user.id).values(**values)
                if conn.execute(q).rowcount == 0:
                    conn.execute(insert(t.users).values(realm=user.realm, id=user.id, **values))
        except IntegrityError as exc:
            raise Conflict(f"username {user.username} exists") from exc

    @_unavailable
    def delete(self, realm: str, user_id: str) -> bool:
        with self._write(bump=True) as conn:
            for table in (t.group_members, t.consents):
                conn.execute(delete(table).where(table.c.realm == realm, table.c.user_id == user_id))
            return bool(conn.execute(delete(t.users).where(t.users.c.realm == realm,
                                                           t.users.c.id == user_id)).rowcount)


class SqlGroups(_Repo):
    def _members(self, conn: Connection, realm: str, name: str) -> tuple[str, ...]:
        q = select(t.group_members.c.user_id).where(t.group_members.c.realm == realm,
                                                    t.group_members.c.group_name == name)
        return tuple(sorted(conn.execute(q).scalars()))

    @_unavailable
    def get(self, realm: str, name: str) -> Group | None:
        with self._read() as conn:
            row = conn.execute(select(t.groups).where(t.groups.c.realm == realm, t.groups.c.name == name)).first()
            return None if row is None else Group(realm, name, self._members(conn, realm, name))

    @_unavailable
    def all(self, realm: str) -> list[Group]:
        with self._read() as conn:
            names = conn.execute(select(t.groups.c.name).where(t.groups.c.realm == realm)
                                 .order_by(t.groups.c.name)).scalars().all()
            return [Group(realm, n, self._members(conn, realm, n)) for n in names]

    @_unavailable
    def groups_of(self, realm: str, user_id: str) -> list[str]:
        with self._read() as conn:
            q = select(t.group_members.c.group_name).where(t.group_members.c.realm == realm,
                                                           t.group_members.c.user_id == user_id)
            return sorted(conn.execute(q).scalars())

    @_unavailable
    def put(self, group: Group) -> None:
        with self._write(bump=True) as conn:
            if conn.execute(select(t.groups.c.name).where(t.groups.c.realm == group.realm,
                                                          t.groups.c.name == group.name)).first() is None:
                conn.execute(insert(t.groups).values(realm=group.realm, name=group.name))
            conn.execute(delete(t.group_members).where(t.group_members.c.realm == group.realm,
                                                       t.group_members.c.group_name == group.name))
            members = sorted(set(group.members))
            if members:
                conn.execute(insert(t.group_members), [
                    {"realm": group.realm, "group_name": group.name, "user_id": m} for m in members])

    @_unavailable
    def delete(self, realm: str, name: str) -> bool:
        with self._write(bump=True) as conn:
            conn.execute(delete(t.group_members).where(t.group_members.c.realm == realm,
                                                       t.group_members.c.group_name == name))
            return bool(conn.execute(delete(t.groups).where(t.groups.c.realm == realm,
                                                            t.groups.c.name == name)).rowcount)
