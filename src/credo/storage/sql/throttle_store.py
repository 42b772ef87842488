"""SQL implementation of EphemeralState: the failed authentications, rate-limit hits and replay marks every
process on the database shares (the default; `CREDO_EPHEMERAL_URL` may put them in Redis instead)."""

from __future__ import annotations

import hashlib

from sqlalchemy import delete, func, insert, select, text

from credo.storage.sql import tables as t
from credo.storage.sql.repo import _Repo, _unavailable
from credo.storage.sql.statements import REPLAY_MARK

_f = t.auth_failures.c
_h = t.rate_hits.c
_m = t.replay_marks.c
KEY_CHARS = 255  # longer keys are stored as their SHA-256


def _stored(key: str) -> str:
    return key if len(key) <= KEY_CHARS else "sha256:" + hashlib.sha256(key.encode()).hexdigest()


class SqlEphemeral(_Repo):
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
    def hit(self, key: str, limit: int, window: int, now: int) -> int:
        """Counted and inserted in one transaction that no other hit of the key interleaves with: SQLite's
        write transactions are serial (BEGIN IMMEDIATE), PostgreSQL's take the key's advisory lock."""
        key = _stored(key)
        with self._write() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 6))"), {"k": key})
            conn.execute(delete(t.rate_hits).where(_h.key == key, _h.hit_at <= now - window))
            n, oldest = conn.execute(select(func.count(), func.min(_h.hit_at)).where(_h.key == key)).one()
            if n >= limit:
                return max(1, int(oldest) + window - now)
            conn.execute(insert(t.rate_hits).values(key=key, hit_at=now, expires_at=now + window))
            return 0

    async def first_use(self, key: str, expires_at: int, *, now: int) -> bool:
        """One statement (REPLAY_MARK): insert the mark, or take over an expired one; a live mark changes no
        row (PostgreSQL: a concurrent insert of the key waits for the first and then finds it live). Awaited
        on the event loop: a request's DPoP proof or client assertion is burned without blocking it."""
        return bool(await self._fast.write_awaited(REPLAY_MARK, (_stored(key), expires_at, now)))

    @_unavailable
    def purge_expired(self, now: int) -> int:
        with self._write() as conn:
            return sum(int(conn.execute(delete(table).where(table.c.expires_at <= now)).rowcount)
                       for table in (t.auth_failures, t.rate_hits, t.replay_marks))
