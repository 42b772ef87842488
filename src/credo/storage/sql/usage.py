"""SQL tally of tokens issued (UsageTally; through SQLAlchemy, off the hot path): a request only adds to
this process's tally in memory; `flush` adds it to the stored counts with one upsert per flush."""

from __future__ import annotations

import threading
from collections import Counter
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, select

from credo.storage.protocols import minute_of
from credo.storage.sql import tables as t
from credo.storage.sql.repo import _Repo, _unavailable

if TYPE_CHECKING:
    from credo.storage.sql.store import SqlStorage

_u = t.token_usage.c


class SqlUsage(_Repo):
    def __init__(self, store: SqlStorage) -> None:
        super().__init__(store)
        self._tally: Counter[tuple[str, str, int]] = Counter()
        self._lock = threading.Lock()

    def note(self, realm: str, grant_type: str, at: int) -> None:
        key = (realm, grant_type, minute_of(at))
        with self._lock:
            self._tally[key] += 1

    def discard(self, realm: str) -> None:
        """Forget this process's tally of a realm being deleted (its stored counts go with the realm)."""
        with self._lock:
            for key in [k for k in self._tally if k[0] == realm]:
                del self._tally[key]

    @_unavailable
    def flush(self) -> None:
        with self._lock:
            pending, self._tally = self._tally, Counter()
        if not pending:
            return
        rows = [{"realm": r, "grant_type": g, "minute": m, "issued": n} for (r, g, m), n in sorted(pending.items())]
        q = self._insert(t.token_usage)
        q = q.on_conflict_do_update(index_elements=["realm", "grant_type", "minute"],
                                    set_={"issued": t.token_usage.c.issued + q.excluded.issued})
        try:
            with self._write() as conn:
                conn.execute(q, rows)
        except BaseException:
            with self._lock:  # not stored: kept for the next flush
                self._tally.update(pending)
            raise

    @_unavailable
    def issued(self, realm: str, since: int) -> dict[str, int]:
        self.flush()
        q = (select(_u.grant_type, func.sum(_u.issued)).where(_u.realm == realm, _u.minute >= minute_of(since))
             .group_by(_u.grant_type))
        with self._read() as conn:
            return {str(g): int(n) for g, n in conn.execute(q)}

    @_unavailable
    def purge(self, before: int) -> int:
        self.flush()  # an old minute still in the tally would otherwise come back at the next flush
        with self._write() as conn:
            return int(conn.execute(delete(t.token_usage).where(_u.minute < before)).rowcount)
