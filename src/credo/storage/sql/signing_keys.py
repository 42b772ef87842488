"""SQL signing keys (through SQLAlchemy: read once per key ring refresh)."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from credo.domain.models import SigningKey
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
