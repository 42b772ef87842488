"""The read-through cache in front of storage: this process's own writes are seen at once (with the
change counter not read for an hour, only the write's own invalidation can make them visible), an
unknown client id is never remembered, and another process's writes are seen through the counter."""

from __future__ import annotations

from dataclasses import replace

from credo.domain.models import ApplicationPolicy, Client, Consent, Group, Realm, User
from credo.domain.settings import ProviderSettings
from credo.storage.cached import CachedStorage
from credo.storage.memory import MemoryStorage


def _cached(interval: float = 3600) -> tuple[MemoryStorage, CachedStorage]:
    inner = MemoryStorage()
    cached = CachedStorage(inner, check_interval=interval)  # type: ignore[arg-type]
    cached.realms.put(Realm("alpha"))
    return inner, cached


def test_own_writes_are_seen_at_once_for_every_cached_record() -> None:
    _, s = _cached()
    s.clients.create(Client("alpha", "c1"))
    s.users.put(User("alpha", "u1", "ann", "h"))
    s.groups.put(Group("alpha", "g1", members=("u1",)))
    s.policies.put(ApplicationPolicy("alpha", "a1", "app1", permissions=("read",)))
    assert s.clients.get("alpha", "c1").enabled  # type: ignore[union-attr]
    assert s.users.get("alpha", "u1").active  # type: ignore[union-attr]
    assert s.groups.groups_of("alpha", "u1") == ["g1"]
    assert s.policies.get("alpha", "a1", "app1").permissions == ("read",)  # type: ignore[union-attr]
    assert s.realms.get("alpha").settings.issuer is None  # type: ignore[union-attr]

    s.clients.update(replace(s.clients.get("alpha", "c1"), enabled=False))  # type: ignore[type-var]
    s.users.put(User("alpha", "u1", "ann", "h", active=False))
    s.groups.put(Group("alpha", "g1", members=()))
    s.policies.put(ApplicationPolicy("alpha", "a1", "app1", permissions=("write",)))
    s.realms.put(Realm("alpha", ProviderSettings(issuer="https://issuer.example")))

    assert not s.clients.get("alpha", "c1").enabled  # type: ignore[union-attr]
    assert not s.users.get("alpha", "u1").active  # type: ignore[union-attr]
    assert s.groups.groups_of("alpha", "u1") == []
    assert s.policies.get("alpha", "a1", "app1").permissions == ("write",)  # type: ignore[union-attr]
    assert s.realms.get("alpha").settings.issuer == "https://issuer.example"  # type: ignore[union-attr]

    assert s.clients.delete("alpha", "c1")
    assert s.policies.delete("alpha", "a1", "app1")
    assert s.clients.get("alpha", "c1") is None
    assert s.policies.get("alpha", "a1", "app1") is None


def test_an_unknown_client_id_is_not_remembered() -> None:
    inner, s = _cached()
    assert s.clients.get("alpha", "new") is None
    inner.clients.create(Client("alpha", "new"))  # another process's creation moves no counter
    assert s.clients.get("alpha", "new") is not None


def test_cached_reads_come_from_memory_until_the_counter_moves() -> None:
    inner, s = _cached(interval=0)
    s.clients.create(Client("alpha", "c1"))
    first = s.clients.get("alpha", "c1")
    assert s.clients.get("alpha", "c1") is first  # served from memory
    inner.clients.update(replace(first, enabled=False))  # type: ignore[type-var]  # another process
    assert not s.clients.get("alpha", "c1").enabled  # type: ignore[union-attr]


def test_other_repositories_and_reads_pass_through() -> None:
    inner, s = _cached()
    s.users.put(User("alpha", "u1", "ann", "h"))
    inner.users.put(User("alpha", "u1", "bob", "h"))
    assert s.users.by_username("alpha", "bob") is not None  # not a cached read
    assert s.tokens is not inner.tokens and s.audit is inner.audit  # token records are cached (test_token_record_cache)


def test_clients_by_resource_is_cached_but_an_unknown_resource_is_not_remembered() -> None:
    inner, s = _cached(interval=0)
    api = "https://api.example.com/mcp"
    assert s.clients.by_resource("alpha", api) is None
    inner.clients.create(Client("alpha", "mcp", resources=(api,)))  # another process's creation moves no counter
    found = s.clients.by_resource("alpha", api)
    assert found is not None and s.clients.by_resource("alpha", api) is found  # then served from memory
    s.clients.update(replace(found, resources=()))  # this process's own change is seen at once
    assert s.clients.by_resource("alpha", api) is None


def test_consents_pass_through_and_never_clear_the_cache() -> None:
    inner, s = _cached()
    s.clients.create(Client("alpha", "c1"))
    client = s.clients.get("alpha", "c1")
    cached = len(s.cache)
    consent = Consent("alpha", "u1", "c1", scopes=("openid",), resources=(), grant_id="g1")
    inner.consents.put(consent)
    assert s.consents.get("alpha", "u1", "c1") == consent  # straight from the backend
    assert s.consents.for_user("alpha", "u1") == [consent]
    s.consents.put(replace(consent, scopes=()))
    assert inner.consents.get("alpha", "u1", "c1").scopes == ()  # type: ignore[union-attr]
    assert s.consents.delete("alpha", "u1", "c1") is True
    assert s.consents.get("alpha", "u1", "c1") is None
    assert len(s.cache) == cached and s.clients.get("alpha", "c1") is client  # nothing was dropped
