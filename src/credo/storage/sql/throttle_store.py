"""SQL implementation of FailureLog: the failed authentications every process on the database shares."""

from __future__ import annotations

from sqlalchemy import delete, insert, select

from credo.storage.sql import tables as t
from credo.storage.sql.repo import _Repo, _unavailable

_f = t.auth_failures.c


class SqlAuthFailures(_Repo):
    @_unavailable
    def add(self, key: str, at: int, expires_at: int) -> int:
        with self._write() as conn:
            result = conn.execute(insert(t.auth_failures).values(key_hash=key, failed_at=at, expires_at=expires_at))
            return int(result.inserted_primary_key[0])  # type: ignore[index]

    @_unavailable
    def recent(self, key: str, since: int, limit: int) -> list[int]:
        q = (select(_f.failed_at).where(_f.key_hash == key, _f.failed_at > since)
             .order_by(_f.failed_at.desc()).limit(limit))
        with self._read() as conn:
            return [int(at) for at in conn.execute(q).scalars()]

    @_unavailable
    def newer(self, after_id: int, now: int, limit: int) -> list[tuple[int, str, int]]:
        q = (select(_f.id, _f.key_hash, _f.failed_at).where(_f.id > after_id, _f.expires_at > now)
             .order_by(_f.id).limit(limit))
        with self._read() as conn:
            return [(int(i), str(k), int(at)) for i, k, at in conn.execute(q)]

    @_unavailable
    def purge_expired(self, now: int) -> int:
        with self._write() as conn:
            return int(conn.execute(delete(t.auth_failures).where(_f.expires_at <= now)).rowcount)
