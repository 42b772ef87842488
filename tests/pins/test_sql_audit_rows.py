"""The audit log on SQLite and PostgreSQL (each hot statement has one driver path per backend) keeps every
field of every event, one at a time and in batches."""

from __future__ import annotations

from pathlib import Path

import pytest

from credo.domain.models import AuditEvent
from tests.conftest import SQL_BACKENDS
from tests.support import make_storage


def _event(i: int) -> AuditEvent:
    return AuditEvent(realm="alpha", action=f"test.event{i}", actor=f"actor-{i}", decision="allow",
                      target=f"target-{i}", reason=f"reason {i}", details={"i": i}, ts=1_800_000_000 + i)


@pytest.mark.parametrize("kind", SQL_BACKENDS)
def test_add_many_keeps_every_event(kind: str, tmp_path: Path) -> None:
    with make_storage(kind, tmp_path) as storage:
        storage.audit.add_many([_event(i) for i in range(3)])
        got = sorted(storage.audit.query("alpha"), key=lambda e: e.ts)
        assert [(e.action, e.actor, e.target, e.reason, e.details, e.ts) for e in got] == \
            [(f"test.event{i}", f"actor-{i}", f"target-{i}", f"reason {i}", {"i": i}, 1_800_000_000 + i) for i in range(3)]


@pytest.mark.parametrize("kind", SQL_BACKENDS)
def test_add_keeps_the_event(kind: str, tmp_path: Path) -> None:
    with make_storage(kind, tmp_path) as storage:
        storage.audit.add(_event(7))
        [got] = storage.audit.query("alpha")
        assert (got.action, got.actor, got.decision, got.target, got.details) == \
            ("test.event7", "actor-7", "allow", "target-7", {"i": 7})
        storage.audit.add_many([_event(8)])
        assert len(storage.audit.query("alpha")) == 2
