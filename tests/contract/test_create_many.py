"""`clients.create_many`: one transaction for a batch of creations, each one all or nothing on its own."""

from __future__ import annotations

import pytest

from credo.domain.models import AuditEvent, Client, Realm
from credo.storage.protocols import Conflict, LimitReached, NewClient, Storage


def _new(client_id: str, burn: str | None = None) -> NewClient:
    event = AuditEvent(realm="r", action="dcr.register", actor="anonymous", decision="allow", target=client_id,
                       details={"kind": "client"}, ts=100)
    return NewClient(Client(realm="r", client_id=client_id, name=client_id), None if burn is None else (burn, 10**10),
                     event)


def test_a_conflict_fails_only_its_own_item(any_storage: Storage) -> None:
    s = any_storage
    s.clients.create(Client(realm="r", client_id="taken"))
    s.one_time.burn("r", "iat-used", 10**10)
    counter = s.change_counter()
    outcomes = s.clients.create_many([
        _new("a", burn="iat-1"),
        _new("taken", burn="iat-2"),  # id exists: its burn must not happen either
        _new("b"),
        _new("c", burn="iat-used"),  # initial access token already used: no client c
        _new("a"),  # created earlier in this same batch
        _new("d", burn="iat-1"),  # burned earlier in this same batch
        _new("e"),
    ])
    assert [type(o) for o in outcomes] == [type(None), Conflict, type(None), Conflict, Conflict, Conflict, type(None)]
    assert sorted(c.client_id for c in s.clients.all("r")) == ["a", "b", "e", "taken"]
    assert s.one_time.is_burned("r", "iat-1") and not s.one_time.is_burned("r", "iat-2")
    assert sorted(e.target for e in s.audit.query("r", action="dcr.register")) == ["a", "b", "e"]
    assert s.change_counter() == counter  # creations move no counter, batched or not


def test_an_empty_or_single_batch(any_storage: Storage) -> None:
    assert any_storage.clients.create_many([]) == []
    assert any_storage.clients.create_many([_new("only")]) == [None]
    [conflict] = any_storage.clients.create_many([_new("only")])
    assert isinstance(conflict, Conflict)
    assert [e.target for e in any_storage.audit.query("r", action="dcr.register")] == ["only"]


def test_a_batch_without_conflicts_stores_every_item(any_storage: Storage) -> None:
    """The usual case (nothing conflicts), which the PostgreSQL fast path stores without savepoints."""
    s = any_storage
    counter = s.change_counter()
    outcomes = s.clients.create_many([_new("a", burn="iat-1"), _new("b"), _new("c", burn="iat-2"), _new("d")])
    assert outcomes == [None, None, None, None]
    assert sorted(c.client_id for c in s.clients.all("r")) == ["a", "b", "c", "d"]
    assert s.one_time.is_burned("r", "iat-1") and s.one_time.is_burned("r", "iat-2")
    assert sorted(e.target for e in s.audit.query("r", action="dcr.register")) == ["a", "b", "c", "d"]
    assert s.change_counter() == counter


def test_max_dynamic_counts_the_batch_and_the_stored(any_storage: Storage) -> None:
    """With `max_dynamic`, a creation past the realm's dynamic clients limit fails alone with LimitReached;
    the count includes the creations earlier in the same batch; clients not dynamic do not count."""
    s = any_storage
    s.realms.put(Realm("r"))
    s.clients.create(Client(realm="r", client_id="static"))
    s.clients.create(Client(realm="r", client_id="d0", dynamic=True), max_dynamic=2)
    items = [NewClient(Client(realm="r", client_id=f"d{i}", dynamic=True), max_dynamic=2) for i in (1, 2, 3)]
    outcomes = s.clients.create_many([items[0], NewClient(Client(realm="r", client_id="free", dynamic=True)), *items[1:]])
    assert [type(o) for o in outcomes] == [type(None), type(None), LimitReached, LimitReached]
    assert s.clients.count("r", dynamic=True) == 3
    with pytest.raises(LimitReached):
        s.clients.create(Client(realm="r", client_id="d4", dynamic=True), max_dynamic=3)
    s.clients.create(Client(realm="r", client_id="d4", dynamic=True), max_dynamic=4)
