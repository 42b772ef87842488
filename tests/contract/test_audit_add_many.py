"""AuditRepository.add_many: every backend stores a batch in order, as one transaction."""

from __future__ import annotations

from credo.domain.models import AuditEvent
from credo.storage.protocols import Storage


def _event(n: int) -> AuditEvent:
    return AuditEvent("alpha", "token_exchange", f"agent-{n}", "allow" if n % 2 else "deny", "app", f"r{n}",
                      {"n": n, "scopes_granted": ["a", "b"]}, ts=100 + n)


def test_add_many_stores_every_event_in_order(any_storage: Storage) -> None:
    any_storage.audit.add_many([])
    assert any_storage.audit.query("alpha") == []
    any_storage.audit.add_many([_event(0)])
    any_storage.audit.add_many([_event(n) for n in range(1, 6)])
    stored = any_storage.audit.query("alpha")
    assert [e.ts for e in stored] == [105, 104, 103, 102, 101, 100]
    assert [e.id for e in stored] == sorted((e.id for e in stored), reverse=True)  # type: ignore[type-var]
    assert stored[0].details == {"n": 5, "scopes_granted": ["a", "b"]}
    assert [e.decision for e in any_storage.audit.query("alpha", decision="deny")] == ["deny"] * 3
