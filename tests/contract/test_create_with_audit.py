"""`clients.create(..., audit=event)`: the client and its audit event are written together or not at all."""

from __future__ import annotations

import pytest

from credo.domain.models import AuditEvent, Client
from credo.storage.protocols import Conflict, Storage


def _event(target: str) -> AuditEvent:
    return AuditEvent(realm="r", action="dcr.register", actor="anonymous", decision="allow", target=target,
                      details={"kind": "client"}, ts=100)


def test_create_records_the_event_in_the_same_write(any_storage: Storage) -> None:
    any_storage.clients.create(Client(realm="r", client_id="a"), audit=_event("a"))
    assert any_storage.clients.get("r", "a") is not None
    [event] = any_storage.audit.query("r", action="dcr.register")
    assert (event.target, event.ts, event.details) == ("a", 100, {"kind": "client"})


def test_a_refused_create_records_nothing(any_storage: Storage) -> None:
    any_storage.clients.create(Client(realm="r", client_id="a"))
    with pytest.raises(Conflict):
        any_storage.clients.create(Client(realm="r", client_id="a"), audit=_event("a"))
    any_storage.one_time.burn("r", "iat-1", 10**10)
    with pytest.raises(Conflict):
        any_storage.clients.create(Client(realm="r", client_id="b"), burn=("iat-1", 10**10), audit=_event("b"))
    assert any_storage.clients.get("r", "b") is None
    assert any_storage.audit.query("r", action="dcr.register") == []
