"""SQL implementation of EphemeralState: the failed authentications, rate-limit hits and replay marks every
process on the database shares (the default; `CREDO_EPHEMERAL_URL` may put them in Redis instead)."""

from __future__ import annotations

import asyncio
import hashlib
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, insert, select, text

from credo.storage.protocols import StorageUnavailable
from credo.storage.sql import tables as t
from credo.storage.sql.fast_pg import PgFastPath
from credo.storage.sql.repo import _Repo, _unavailable
from credo.storage.sql.statements import REPLAY_MARK, REPLAY_MARK_RETURNING

if TYPE_CHECKING:
    from credo.storage.sql.store import SqlStorage

_f = t.auth_failures.c
_h = t.rate_hits.c
_m = t.replay_marks.c
KEY_CHARS = 255  # longer keys are stored as their SHA-256


def _stored(key: str) -> str:
    return key if len(key) <= KEY_CHARS else "sha256:" + hashlib.sha256(key.encode()).hexdigest()


class _Marks:
    """The replay marks of one loop step's requests (PostgreSQL), and once sent, their storing."""

    __slots__ = ("rows", "stored")

    def __init__(self) -> None:
        self.rows: list[tuple[str, int, int]] = []
        self.stored: asyncio.Task[list[bool]] | None = None


class SqlEphemeral(_Repo):
    def __init__(self, store: SqlStorage) -> None:
        super().__init__(store)
        self._open: dict[asyncio.AbstractEventLoop, _Marks] = {}  # per event loop, the step's marks

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
        on the event loop: a request's DPoP proof or client assertion is burned without blocking it. On
        PostgreSQL the marks of the requests of one loop step are stored together, in order, in one
        transaction (one commit, not one log flush per request), each answering for itself."""
        row = (_stored(key), expires_at, now)
        fast = self._fast
        if not isinstance(fast, PgFastPath):
            return bool(await fast.write_awaited(REPLAY_MARK, row))  # a local write: at once
        loop = asyncio.get_running_loop()
        batch = self._open.get(loop)
        if batch is None:
            batch = self._open[loop] = _Marks()
        batch.rows.append(row)
        index = len(batch.rows) - 1
        if batch.stored is None:
            try:
                await asyncio.sleep(0)  # every request of this loop step adds its mark meanwhile
            finally:
                self._store(loop, batch, fast)  # the first to resume (or to be cancelled) stores them all
        assert batch.stored is not None
        try:
            return (await asyncio.shield(batch.stored))[index]
        except StorageUnavailable as exc:
            raise StorageUnavailable(str(exc)) from None  # a fresh error per request of the batch

    def _store(self, loop: asyncio.AbstractEventLoop, batch: _Marks, fast: PgFastPath) -> None:
        if batch.stored is not None:
            return
        if self._open.get(loop) is batch:
            del self._open[loop]
        batch.stored = loop.create_task(fast.firsts_awaited(REPLAY_MARK_RETURNING, batch.rows))

    @_unavailable
    def purge_expired(self, now: int) -> int:
        with self._write() as conn:
            return sum(int(conn.execute(delete(table).where(table.c.expires_at <= now)).rowcount)
                       for table in (t.auth_failures, t.rate_hits, t.replay_marks))

    def close(self) -> None:
        """Nothing of its own: its connections are the storage's, closed with it."""

