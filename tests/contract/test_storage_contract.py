"""The storage contract: one suite, every backend (memory, SQLite, PostgreSQL) via `any_storage`.

Every method of every repository in storage/protocols.py is exercised here; the concurrency tests run
on the SQL backends with real threads and real connections.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from credo.domain.models import (
    AdminUser,
    ApplicationPolicy,
    AuditEvent,
    Client,
    Group,
    Realm,
    Script,
    SigningKey,
    TokenRecord,
    User,
)
from credo.domain.settings import ProviderSettings
from credo.storage.protocols import Conflict, Storage

R = "alpha"


def _client(client_id: str, **kw: object) -> Client:
    return Client(realm=R, client_id=client_id, secret_hash="h1$" + "a" * 64, name=client_id,
                  created_at=100, updated_at=100, **kw)  # type: ignore[arg-type]


def _token(h: str, exp: int, realm: str = R) -> TokenRecord:
    return TokenRecord(token_hash=h, realm=realm, jti="jti-" + h, kind="access_token", client_id="c1", sub="c1",
                       scopes=("a", "b"), issued_at=10, expires_at=exp, claims={"aud": "c1", "act": {"sub": "x"}})


def _bumps(storage: Storage, action: Callable[[], object]) -> None:
    before = storage.change_counter()
    action()
    assert storage.change_counter() > before


def _leaves_counter(storage: Storage, action: Callable[[], object]) -> None:
    before = storage.change_counter()
    action()
    assert storage.change_counter() == before


# --- realms ---------------------------------------------------------------------------------------

def test_realms_roundtrip(any_storage: Storage) -> None:
    s = any_storage
    assert s.realms.get("zeta") is None
    settings = ProviderSettings(token_format="stateless", access_token_lifetime=120)
    _bumps(s, lambda: s.realms.put(Realm("zeta", settings, created_at=5)))
    _bumps(s, lambda: s.realms.put(Realm("beta")))
    got = s.realms.get("zeta")
    assert got == Realm("zeta", settings, created_at=5)
    assert [r.name for r in s.realms.all()] == ["beta", "zeta"]
    _bumps(s, lambda: s.realms.put(Realm("zeta", ProviderSettings(), created_at=5)))
    assert s.realms.get("zeta").settings.token_format == "stateful"  # type: ignore[union-attr]
    _bumps(s, lambda: s.realms.delete("zeta"))
    assert s.realms.get("zeta") is None
    assert s.realms.delete("zeta") is False
    assert [r.name for r in s.realms.all()] == ["beta"]


def test_realm_settings_swap(any_storage: Storage) -> None:
    """Compare-and-swap: the new settings only over the expected ones; the created time kept."""
    s = any_storage
    first, second = ProviderSettings(access_token_lifetime=120), ProviderSettings(access_token_lifetime=240)
    assert s.realms.swap(Realm("zeta", second), expected=first) is False  # no such realm
    s.realms.put(Realm("zeta", first, created_at=5))
    assert s.realms.swap(Realm("zeta", second), expected=ProviderSettings()) is False  # not what is stored
    assert s.realms.get("zeta") == Realm("zeta", first, created_at=5)
    _bumps(s, lambda: s.realms.swap(Realm("zeta", second, created_at=5), expected=first))
    assert s.realms.get("zeta") == Realm("zeta", second, created_at=5)
    assert s.realms.swap(Realm("zeta", first, created_at=5), expected=first) is False  # lost: changed meanwhile


# --- clients --------------------------------------------------------------------------------------

def test_client_create_get_conflict(any_storage: Storage) -> None:
    s = any_storage
    c = _client("c1", kind="agent", scopes=("x", "y"), grant_types=("client_credentials", "password"),
                redirect_uris=("https://a.example/cb",), attributes={"k": ["v"]}, metadata={"logo_uri": "https://l"},
                dynamic=True, app_type="web", owners=("u1",), registration_token_hash="rt1",
                registration_token_expires_at=999, auth_method="client_secret_post")
    # A creation moves no counter: caches never hold an unknown client id (Services.client).
    _leaves_counter(s, lambda: s.clients.create(c))
    assert s.clients.get(R, "c1") == c
    assert s.clients.get("other", "c1") is None
    with pytest.raises(Conflict):
        s.clients.create(replace(c, name="again"))
    assert s.clients.get(R, "c1").name == "c1"  # type: ignore[union-attr]


def test_client_create_with_burn_is_atomic(any_storage: Storage) -> None:
    s = any_storage
    s.clients.create(_client("c1"), burn=("iat-1", 10_000))
    assert s.one_time.is_burned(R, "iat-1")
    with pytest.raises(Conflict):
        s.clients.create(_client("c2"), burn=("iat-1", 10_000))
    assert s.clients.get(R, "c2") is None  # the burned id stopped the create: nothing half-done
    # A client id conflict does not burn the one-time id either.
    with pytest.raises(Conflict):
        s.clients.create(_client("c1"), burn=("iat-2", 10_000))
    assert not s.one_time.is_burned(R, "iat-2")
    assert s.clients.count(R) == 1


def test_client_update_compare_and_swap(any_storage: Storage) -> None:
    s = any_storage
    s.clients.create(_client("c1", registration_token_hash="old"))
    assert s.clients.update(replace(_client("c1"), name="n1", registration_token_hash="new"),
                            expected_registration_token_hash="wrong") is False
    assert s.clients.get(R, "c1").name == "c1"  # type: ignore[union-attr]
    _bumps(s, lambda: s.clients.update(replace(_client("c1"), name="n2", registration_token_hash="new"),
                                       expected_registration_token_hash="old"))
    got = s.clients.get(R, "c1")
    assert got is not None and got.name == "n2" and got.registration_token_hash == "new" and got.version == 1
    assert s.clients.update(replace(got, name="n3"), expected_registration_token_hash="old") is False
    assert s.clients.update(replace(_client("c1"), name="n4", enabled=False)) is False  # read before n2: lost
    assert s.clients.current(R, "c1") == got
    assert s.clients.update(replace(got, name="n4", enabled=False)) is True
    assert s.clients.current(R, "c1") == replace(got, name="n4", enabled=False, version=2)
    assert s.clients.update(_client("missing")) is False


def test_an_administrators_update_keeps_the_stored_registration_token(any_storage: Storage) -> None:
    """A write without the token's expectation (an administrator's) never brings back the token it read."""
    s = any_storage
    s.clients.create(_client("c1", dynamic=True, registration_token_hash="used", registration_token_expires_at=5))
    read = s.clients.current(R, "c1")
    assert read is not None
    assert s.clients.swap_registration_token(replace(read, registration_token_hash="fresh",
                                                     registration_token_expires_at=9),
                                             expected_registration_token_hash="used") is True
    assert s.clients.update(replace(read, enabled=False)) is True  # the rotation moved no version
    got = s.clients.current(R, "c1")
    assert got is not None and got.enabled is False
    assert (got.registration_token_hash, got.registration_token_expires_at) == ("fresh", 9)


def test_a_registration_token_swap_writes_only_the_token_and_moves_no_counter(any_storage: Storage) -> None:
    s = any_storage
    s.clients.create(_client("c1", dynamic=True, registration_token_hash="t0"))
    read = s.clients.current(R, "c1")
    assert read is not None
    rotated = replace(read, name="not stored", enabled=False, registration_token_hash="t1",
                      registration_token_expires_at=7)
    _leaves_counter(s, lambda: s.clients.swap_registration_token(rotated, expected_registration_token_hash="t0"))
    assert s.clients.current(R, "c1") == replace(read, registration_token_hash="t1", registration_token_expires_at=7)
    assert s.clients.swap_registration_token(rotated, expected_registration_token_hash="t0") is False  # used
    _bumps(s, lambda: s.clients.update(replace(read, enabled=False)))  # a disable moves it
    stale = replace(read, registration_token_hash="t2")  # read before the disable
    assert s.clients.swap_registration_token(stale, expected_registration_token_hash="t1") is False
    assert s.clients.current(R, "c1").registration_token_hash == "t1"  # type: ignore[union-attr]


def test_client_delete_compare_and_swap(any_storage: Storage) -> None:
    s = any_storage
    s.clients.create(_client("c1", registration_token_hash="rt"))
    assert s.clients.delete(R, "c1", expected_registration_token_hash="nope") is False
    assert s.clients.delete(R, "c1", expected_registration_token_hash="rt", expected_version=1) is False
    assert s.clients.get(R, "c1") is not None
    _bumps(s, lambda: s.clients.delete(R, "c1", expected_registration_token_hash="rt", expected_version=0))
    assert s.clients.get(R, "c1") is None
    assert s.clients.delete(R, "c1") is False


def test_client_delete_removes_its_policies(any_storage: Storage) -> None:
    s = any_storage
    s.clients.create(_client("agent", kind="agent"))
    s.policies.put(ApplicationPolicy(R, "agent", "app1"))
    s.policies.put(ApplicationPolicy(R, "other", "agent"))
    assert s.clients.delete(R, "agent") is True
    assert s.policies.for_agent(R, "agent") == []
    assert s.policies.get(R, "other", "agent") is None


def test_client_list_filters_count_paging(any_storage: Storage) -> None:
    s = any_storage
    s.clients.create(_client("a-static"))
    s.clients.create(_client("b-dyn", dynamic=True))
    s.clients.create(_client("c-agent", kind="agent", dynamic=True))
    s.clients.create(_client("d-app", kind="application"))
    s.clients.create(Client(realm="bravo", client_id="x"))
    assert [c.client_id for c in s.clients.all(R)] == ["a-static", "b-dyn", "c-agent", "d-app"]
    assert [c.client_id for c in s.clients.all(R, kind="agent")] == ["c-agent"]
    assert [c.client_id for c in s.clients.all(R, dynamic=True)] == ["b-dyn", "c-agent"]
    assert [c.client_id for c in s.clients.all(R, dynamic=False)] == ["a-static", "d-app"]
    assert [c.client_id for c in s.clients.all(R, kind="client", dynamic=True)] == ["b-dyn"]
    assert [c.client_id for c in s.clients.all(R, limit=2, offset=1)] == ["b-dyn", "c-agent"]
    assert s.clients.count(R) == 4
    assert s.clients.count(R, dynamic=True) == 2
    assert s.clients.count(R, dynamic=False) == 2
    assert s.clients.count("bravo") == 1 and s.clients.count("none") == 0


def test_client_touch_and_last_used(any_storage: Storage) -> None:
    s = any_storage
    s.clients.create(_client("c1"))
    assert s.clients.last_used(R, "c1") is None
    s.clients.touch(R, "c1", 1234)
    assert s.clients.last_used(R, "c1") == 1234
    s.clients.touch(R, "c1", 2000)
    assert s.clients.last_used(R, "c1") == 2000
    s.clients.touch(R, "ghost", 5)
    assert s.clients.last_used(R, "ghost") is None
    assert s.clients.get(R, "c1") == _client("c1")  # touching changes nothing else


# --- users and groups -----------------------------------------------------------------------------

def test_users(any_storage: Storage) -> None:
    s = any_storage
    u1 = User(R, "id-1", "alice", "ph1", created_at=3)
    _bumps(s, lambda: s.users.put(u1))
    s.users.put(User(R, "id-2", "bob", "ph2", active=False))
    s.users.put(User("bravo", "id-3", "alice", "ph3"))  # usernames are unique per realm only
    assert s.users.get(R, "id-1") == u1
    assert s.users.get("bravo", "id-1") is None
    assert s.users.by_username(R, "bob") == User(R, "id-2", "bob", "ph2", active=False)
    assert s.users.by_username(R, "carol") is None
    assert [u.username for u in s.users.all(R)] == ["alice", "bob"]
    with pytest.raises(Conflict):
        s.users.put(User(R, "id-9", "alice", "x"))
    with pytest.raises(Conflict):
        s.users.put(User(R, "id-2", "alice", "x"))  # renaming onto a taken username
    assert s.users.get(R, "id-9") is None and s.users.get(R, "id-2").username == "bob"  # type: ignore[union-attr]
    _bumps(s, lambda: s.users.put(replace(u1, password_hash="ph-new", active=False)))
    assert s.users.get(R, "id-1").password_hash == "ph-new"  # type: ignore[union-attr]
    _bumps(s, lambda: s.users.delete(R, "id-1"))
    assert s.users.get(R, "id-1") is None and s.users.delete(R, "id-1") is False


def test_groups_membership(any_storage: Storage) -> None:
    s = any_storage
    for uid in ("u1", "u2", "u3"):
        s.users.put(User(R, uid, "name-" + uid, "ph"))
    _bumps(s, lambda: s.groups.put(Group(R, "ops", ("u2", "u1", "u1"))))
    s.groups.put(Group(R, "dev", ("u1",)))
    s.groups.put(Group("bravo", "ops", ("u1",)))
    assert s.groups.get(R, "ops") == Group(R, "ops", ("u1", "u2"))
    assert s.groups.get(R, "none") is None
    assert [g.name for g in s.groups.all(R)] == ["dev", "ops"]
    assert s.groups.groups_of(R, "u1") == ["dev", "ops"]
    assert s.groups.groups_of(R, "u3") == []
    _bumps(s, lambda: s.groups.put(Group(R, "ops", ("u3",))))
    assert s.groups.get(R, "ops") == Group(R, "ops", ("u3",))
    s.users.delete(R, "u1")
    assert s.groups.get(R, "dev") == Group(R, "dev", ())
    assert s.groups.groups_of(R, "u1") == []
    assert s.groups.groups_of("bravo", "u1") == ["ops"]  # another realm's membership is untouched
    _bumps(s, lambda: s.groups.delete(R, "ops"))
    assert s.groups.get(R, "ops") is None and s.groups.delete(R, "ops") is False
    assert s.groups.groups_of(R, "u3") == []


# --- policies and scripts -------------------------------------------------------------------------

def test_policies(any_storage: Storage) -> None:
    s = any_storage
    p = ApplicationPolicy(R, "agent", "app2", subjects=("u1",), subject_groups=("ops",), permissions=("read",))
    _bumps(s, lambda: s.policies.put(p))
    s.policies.put(ApplicationPolicy(R, "agent", "app1"))
    s.policies.put(ApplicationPolicy(R, "agent2", "app1"))
    assert s.policies.get(R, "agent", "app2") == p
    assert s.policies.get(R, "agent", "none") is None
    assert [x.application_id for x in s.policies.for_agent(R, "agent")] == ["app1", "app2"]
    _bumps(s, lambda: s.policies.put(replace(p, permissions=())))
    assert s.policies.get(R, "agent", "app2").permissions == ()  # type: ignore[union-attr]
    _bumps(s, lambda: s.policies.delete(R, "agent", "app2"))
    assert s.policies.get(R, "agent", "app2") is None and s.policies.delete(R, "agent", "app2") is False
    assert len(s.policies.for_agent(R, "agent2")) == 1


def test_scripts(any_storage: Storage) -> None:
    s = any_storage
    sc = Script(R, "s1", "zeta-script", "var x = 1;", description="d", created_at=1, updated_at=2)
    _bumps(s, lambda: s.scripts.put(sc))
    s.scripts.put(Script(R, "s2", "alpha-script", "1"))
    assert s.scripts.get(R, "s1") == sc
    assert s.scripts.get("bravo", "s1") is None
    assert [x.id for x in s.scripts.all(R)] == ["s2", "s1"]  # ordered by name
    _bumps(s, lambda: s.scripts.put(replace(sc, source="var y;", updated_at=3)))
    assert s.scripts.get(R, "s1").source == "var y;"  # type: ignore[union-attr]
    _bumps(s, lambda: s.scripts.delete(R, "s1"))
    assert s.scripts.get(R, "s1") is None and s.scripts.delete(R, "s1") is False


# --- tokens and one-time ids ----------------------------------------------------------------------

def test_tokens(any_storage: Storage) -> None:
    s = any_storage
    t1, t2 = _token("h1", 100), _token("h2", 200)
    s.tokens.add(t1)
    s.tokens.add(t2)
    with pytest.raises(Conflict):
        s.tokens.add(_token("h1", 500))
    assert s.tokens.get("h1") == t1
    assert s.tokens.get("nope") is None
    assert s.tokens.delete("h2") is True and s.tokens.delete("h2") is False
    s.tokens.add(_token("h3", 300))
    assert s.tokens.purge_expired(100) == 1  # expires_at <= now is expired
    assert s.tokens.get("h1") is None and s.tokens.get("h3") is not None
    assert s.tokens.purge_expired(100) == 0


def test_tokens_of_a_realm(any_storage: Storage) -> None:
    """The unexpired tokens of one realm (the admin API's token list), oldest first, records as stored."""
    s = any_storage
    mine = [replace(_token(f"m{i}", 200), realm="__admin__", jti=f"j{i}", issued_at=10 + i,
                    claims={"n": i}) for i in (2, 1)]
    s.tokens.add_many([*mine, _token("other", 200), replace(_token("old", 100), realm="__admin__")])
    assert s.tokens.of_realm("__admin__", 100) == [mine[1], mine[0]]  # expires_at <= now: expired
    assert s.tokens.of_realm("nowhere", 0) == []


def test_tokens_add_many_is_all_or_nothing(any_storage: Storage) -> None:
    s = any_storage
    s.tokens.add_many([])
    batch = [_token("b1", 100), _token("b2", 200), _token("b3", 300)]
    s.tokens.add_many(batch)
    assert [s.tokens.get(h) for h in ("b1", "b2", "b3")] == batch
    s.tokens.add_many([_token("b4", 400)])
    assert s.tokens.get("b4") == _token("b4", 400)
    with pytest.raises(Conflict):  # one duplicate: none of the batch is stored
        s.tokens.add_many([_token("b5", 500), _token("b1", 600), _token("b6", 700)])
    assert s.tokens.get("b5") is None and s.tokens.get("b6") is None
    assert s.tokens.get("b1") == batch[0]
    with pytest.raises(Conflict):  # a duplicate inside the batch itself
        s.tokens.add_many([_token("b7", 500), _token("b7", 600)])
    assert s.tokens.get("b7") is None


def test_one_time_ids(any_storage: Storage) -> None:
    s = any_storage
    assert s.one_time.is_burned(R, "x") is False
    assert s.one_time.burn(R, "x", 100) is True
    assert s.one_time.burn(R, "x", 100) is False
    assert s.one_time.is_burned(R, "x") is True
    assert s.one_time.is_burned("bravo", "x") is False
    assert s.one_time.burn("bravo", "x", 300) is True
    assert s.one_time.purge_expired(99) == 0
    assert s.one_time.purge_expired(100) == 1
    assert s.one_time.is_burned(R, "x") is False and s.one_time.is_burned("bravo", "x") is True
    assert s.one_time.burn(R, "x", 500) is True  # after purge it is a fresh id


def test_any_burned(any_storage: Storage) -> None:
    s = any_storage
    assert s.one_time.any_burned(R, ()) is False
    assert s.one_time.any_burned(R, ("a", "b")) is False
    s.one_time.burn(R, "b", 10**10)
    s.one_time.burn("bravo", "a", 10**10)
    assert s.one_time.any_burned(R, ("a", "b")) is True and s.one_time.any_burned(R, ("b", "a")) is True
    assert s.one_time.any_burned(R, ("a",)) is False and s.one_time.any_burned(R, ("b",)) is True
    assert s.one_time.any_burned(R, ("a", "c", "d", "e")) is False  # the other realm's "a" does not count
    assert s.one_time.any_burned("bravo", ("c", "a")) is True and s.one_time.any_burned("bravo", ("b", "c")) is False


# --- keys, audit, admins --------------------------------------------------------------------------

def test_keys(any_storage: Storage) -> None:
    s = any_storage
    k1 = SigningKey(R, "k1", "ES256", b"\x00sealed\xff", {"kty": "EC", "kid": "k1"}, created_at=10)
    k2 = SigningKey(R, "k2", "RS256", b"sealed2", {"kty": "RSA", "kid": "k2"}, created_at=20)
    _bumps(s, lambda: s.keys.add(k2))
    s.keys.add(k1)
    with pytest.raises(Conflict):
        s.keys.add(k1)
    assert s.keys.all(R) == [k1, k2]  # oldest first
    assert s.keys.all("bravo") == []
    _bumps(s, lambda: s.keys.put(replace(k1, active=False, publish_until=99)))
    assert s.keys.all(R)[0] == replace(k1, active=False, publish_until=99)
    s.keys.put(SigningKey(R, "k3", "ES256", b"s3", {}, created_at=30))
    assert [k.kid for k in s.keys.all(R)] == ["k1", "k2", "k3"]
    _bumps(s, lambda: s.keys.delete(R, "k1"))
    assert s.keys.delete(R, "k1") is False
    assert [k.kid for k in s.keys.all(R)] == ["k2", "k3"]


def test_audit_query(any_storage: Storage) -> None:
    s = any_storage
    s.audit.add(AuditEvent(R, "client.create", "admin", "info", "c1", "made", {"n": 1}, ts=1))
    s.audit.add(AuditEvent(R, "token_exchange", "agent-7", "deny", "app", "no policy", {}, ts=2))
    s.audit.add(AuditEvent("bravo", "client.create", "admin", "info", "c2", "", {}, ts=3))
    s.audit.add(AuditEvent(R, "client.delete", "admin", "info", "c1", "", {"why": "cleanup"}, ts=4))
    newest = s.audit.query()
    assert [e.ts for e in newest] == [4, 3, 2, 1]
    assert newest[0].id is not None and newest[0].id > newest[-1].id  # type: ignore[operator]
    assert newest[-1].details == {"n": 1} and newest[-1].reason == "made"
    assert [e.ts for e in s.audit.query(R)] == [4, 2, 1]
    assert [e.ts for e in s.audit.query(action="client.create")] == [3, 1]
    assert [e.ts for e in s.audit.query(actor="agent-7")] == [2]
    assert [e.ts for e in s.audit.query(R, target="c1")] == [4, 1]
    assert [e.ts for e in s.audit.query(decision="deny")] == [2]
    assert [e.ts for e in s.audit.query(text="cleanup")] == [4]
    assert [e.ts for e in s.audit.query(text="no policy")] == [2]
    assert [e.ts for e in s.audit.query(limit=2)] == [4, 3]
    assert s.audit.query(R, action="client.create", actor="nobody") == []


def test_admins(any_storage: Storage) -> None:
    s = any_storage
    a = AdminUser("root", "ph", created_at=1, must_change_password=True)
    s.admins.put(a)
    s.admins.put(AdminUser("alice", "ph2"))
    assert s.admins.get("root") == a
    assert s.admins.get("nobody") is None
    assert [x.username for x in s.admins.all()] == ["alice", "root"]
    s.admins.put(replace(a, must_change_password=False, password_hash="ph3"))
    assert s.admins.get("root") == replace(a, must_change_password=False, password_hash="ph3")
    assert s.admins.delete("root") is True and s.admins.delete("root") is False


# --- concurrency on the SQL backends --------------------------------------------------------------

def _race(n: int, action: Callable[[int], bool]) -> list[bool]:
    barrier = threading.Barrier(n)
    results: list[bool] = [False] * n
    errors: list[BaseException] = []

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = action(i)
        except BaseException as exc:  # collected and re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    return results


def test_concurrent_burn_exactly_once(sql_storage: Storage) -> None:
    results = _race(20, lambda _i: sql_storage.one_time.burn(R, "same-id", 10_000))
    assert results.count(True) == 1


def test_concurrent_cas_update_exactly_once(sql_storage: Storage) -> None:
    s = sql_storage
    s.clients.create(_client("c1", registration_token_hash="h0"))
    results = _race(20, lambda i: s.clients.update(replace(_client("c1"), name=f"w{i}",
                                                           registration_token_hash=f"h{i + 1}"),
                                                   expected_registration_token_hash="h0"))
    assert results.count(True) == 1
    winner = results.index(True)
    got = s.clients.get(R, "c1")
    assert got is not None and got.name == f"w{winner}" and got.registration_token_hash == f"h{winner + 1}"


def test_concurrent_version_updates_exactly_once(sql_storage: Storage) -> None:
    """Writers that read the same version (administrators without the token's expectation): one wins."""
    s = sql_storage
    s.clients.create(_client("c1"))
    results = _race(20, lambda i: s.clients.update(replace(_client("c1"), name=f"w{i}")))
    assert results.count(True) == 1
    got = s.clients.current(R, "c1")
    assert got is not None and got.name == f"w{results.index(True)}" and got.version == 1


def test_concurrent_create_with_burn_exactly_once(sql_storage: Storage) -> None:
    s = sql_storage

    def create(i: int) -> bool:
        try:
            s.clients.create(_client(f"c{i}"), burn=("iat-shared", 10_000))
            return True
        except Conflict:
            return False

    assert _race(20, create).count(True) == 1
    assert s.clients.count(R) == 1


def test_memory_backend_concurrency_too(tmp_path: Path) -> None:
    from credo.storage.memory import MemoryStorage

    s = MemoryStorage()
    assert _race(20, lambda _i: s.one_time.burn(R, "x", 10)).count(True) == 1
