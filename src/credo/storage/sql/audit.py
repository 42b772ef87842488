"""SQL audit events. `add` and `add_many` are hot statements (driver only); `query` is administration."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import select

from credo.domain.models import AuditEvent
from credo.storage.sql import tables as t
from credo.storage.sql.repo import _dumps, _Repo, _unavailable
from credo.storage.sql.statements import AUDIT_INSERT


def _audit_values(event: AuditEvent) -> dict[str, Any]:
    return {"realm": event.realm, "ts": event.ts, "action": event.action, "actor": event.actor,
            "decision": event.decision, "target": event.target, "reason": event.reason,
            "details": _dumps(event.details)}


def audit_params(event: AuditEvent) -> tuple[Any, ...]:
    """AUDIT_INSERT's parameters for `event`."""
    return AUDIT_INSERT.params(_audit_values(event))


class SqlAudit(_Repo):
    @_unavailable
    def add(self, event: AuditEvent) -> None:
        self._fast.write(AUDIT_INSERT, audit_params(event))

    @_unavailable
    def add_many(self, events: list[AuditEvent]) -> None:
        if not events:
            return
        if len(events) == 1:  # autocommit: one statement instead of BEGIN, INSERT, COMMIT
            self._fast.write(AUDIT_INSERT, audit_params(events[0]))
        else:
            self._fast.transaction([(AUDIT_INSERT, audit_params(event)) for event in events])

    @_unavailable
    def query(self, realm: str | None = None, *, action: str | None = None, actor: str | None = None,
              target: str | None = None, decision: str | None = None, text: str | None = None,
              limit: int = 100, before: int | None = None, since: int | None = None) -> list[AuditEvent]:
        c = t.audit_events.c
        q = select(t.audit_events)
        if before is not None:
            q = q.where(c.id < before)
        if since is not None:
            q = q.where(c.ts >= since)
        for col, value in ((c.realm, realm), (c.action, action), (c.actor, actor), (c.target, target),
                           (c.decision, decision)):
            if value is not None:
                q = q.where(col == value)
        if text:
            like = f"%{text}%"
            q = q.where(c.actor.like(like) | c.target.like(like) | c.reason.like(like) | c.details.like(like))
        with self._read() as conn:
            rows = conn.execute(q.order_by(c.id.desc()).limit(limit))
            return [AuditEvent(realm=r.realm, action=r.action, actor=r.actor, decision=r.decision, target=r.target,
                               reason=r.reason, details=orjson.loads(r.details), ts=r.ts, id=r.id) for r in rows]
