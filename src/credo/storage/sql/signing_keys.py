"""SQL signing keys (through SQLAlchemy: read once per key ring refresh)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from credo.domain.models import SealedDataKey, SigningKey
from credo.storage.protocols import Conflict
from credo.storage.sql import tables as t
from credo.storage.sql.repo import _dumps, _Repo, _unavailable


def _key_row(row: Any) -> SigningKey:
    return SigningKey(realm=row.realm, kid=row.kid, alg=row.alg, private_key_encrypted=bytes(row.private_key_encrypted),
                      public_jwk=orjson.loads(row.public_jwk), created_at=row.created_at, active=bool(row.active),
                      publish_until=row.publish_until)


class SqlKeys(_Repo):
    @_unavailable
    def all(self, realm: str) -> list[SigningKey]:
        with self._read() as conn:
            q = select(t.signing_keys).where(t.signing_keys.c.realm == realm)
            return [_key_row(r) for r in conn.execute(q.order_by(t.signing_keys.c.created_at, t.signing_keys.c.kid))]

    def _values(self, key: SigningKey) -> dict[str, Any]:
        return {"alg": key.alg, "private_key_encrypted": key.private_key_encrypted,
                "public_jwk": _dumps(key.public_jwk), "created_at": key.created_at, "active": key.active,
                "publish_until": key.publish_until}

    @_unavailable
    def add(self, key: SigningKey) -> None:
        try:
            with self._write(bump=True) as conn:
                conn.execute(insert(t.signing_keys).values(realm=key.realm, kid=key.kid, **self._values(key)))
        except IntegrityError as exc:
            raise Conflict("key exists") from exc

    @_unavailable
    def put(self, key: SigningKey) -> None:
        with self._write(bump=True) as conn:
            q = update(t.signing_keys).where(t.signing_keys.c.realm == key.realm, t.signing_keys.c.kid == key.kid)
            if conn.execute(q.values(**self._values(key))).rowcount == 0:
                conn.execute(insert(t.signing_keys).values(realm=key.realm, kid=key.kid, **self._values(key)))

    @_unavailable
    def delete(self, realm: str, kid: str) -> bool:
        with self._write(bump=True) as conn:
            return bool(conn.execute(delete(t.signing_keys).where(t.signing_keys.c.realm == realm,
                                                                  t.signing_keys.c.kid == kid)).rowcount)

    @_unavailable
    def swap_active(self, realm: str, retire: Sequence[str], new: SigningKey, publish_until: int) -> bool:
        keys = t.signing_keys.c
        try:
            with self._write(bump=True) as conn:
                # Lock the realm's active rows (PostgreSQL; SQLite's write transaction holds its lock already).
                q = select(keys.kid).where(keys.realm == realm, keys.active.is_(True))
                if conn.dialect.name == "postgresql":
                    q = q.with_for_update()
                if {r.kid for r in conn.execute(q)} != set(retire):
                    raise _Lost
                for kid in retire:
                    changed = conn.execute(update(t.signing_keys).where(keys.realm == realm, keys.kid == kid,
                                                                        keys.active.is_(True))
                                           .values(active=False, publish_until=publish_until)).rowcount
                    if changed != 1:
                        raise _Lost
                conn.execute(insert(t.signing_keys).values(realm=new.realm, kid=new.kid, **self._values(new)))
        except (_Lost, IntegrityError):
            return False  # the transaction was rolled back: nothing changed
        return True

    @_unavailable
    def data_key(self, name: str) -> SealedDataKey | None:
        with self._read() as conn:
            row = conn.execute(select(t.data_keys).where(t.data_keys.c.name == name)).first()
        if row is None:
            return None
        return SealedDataKey(name=row.name, sealed=bytes(row.sealed), master_id=row.master_id,
                             created_at=row.created_at, updated_at=row.updated_at)

    @_unavailable
    def add_data_key(self, key: SealedDataKey) -> bool:
        try:
            with self._write() as conn:
                conn.execute(insert(t.data_keys).values(name=key.name, sealed=key.sealed, master_id=key.master_id,
                                                        created_at=key.created_at, updated_at=key.updated_at))
        except IntegrityError:
            return False
        return True

    @_unavailable
    def reseal_data_key(self, key: SealedDataKey, expected_master_id: str) -> bool:
        with self._write() as conn:
            q = update(t.data_keys).where(t.data_keys.c.name == key.name, t.data_keys.c.master_id == expected_master_id)
            return bool(conn.execute(q.values(sealed=key.sealed, master_id=key.master_id,
                                              updated_at=key.updated_at)).rowcount)


class _Lost(Exception):
    """Another process changed the realm's active keys first."""
