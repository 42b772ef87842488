"""Storage for browser sign-in, on every backend: consents (one per realm, user and client; no change
counter move), clients found by RFC 8707 resource identifier (one client per resource in a realm, kept on
create, create_many and update), the new client fields and user profile attributes reading back whole,
and deleting a user or a client taking its consents (and a client its resources) along."""

from __future__ import annotations

from dataclasses import replace

import pytest

from credo.domain.models import Client, Consent, User
from credo.storage.protocols import Conflict, NewClient, Storage
from tests.contract.test_storage_contract import R, _client, _leaves_counter, _race

API = "https://api.example.com/mcp"
OTHER_API = "https://other.example.com/"


def _consent(user_id: str, client_id: str, *, realm: str = R, **kw: object) -> Consent:
    fields: dict[str, object] = {"scopes": ("openid", "profile"), "resources": (API,),
                                 "grant_id": f"g-{user_id}-{client_id}", "created_at": 10, "updated_at": 10, **kw}
    return Consent(realm, user_id, client_id, **fields)  # type: ignore[arg-type]


def _resource_server(client_id: str, *resources: str) -> Client:
    return _client(client_id, kind="application", resources=resources)


# --- consents -------------------------------------------------------------------------------------

def test_consents_put_get_for_user_replace_delete(any_storage: Storage) -> None:
    s = any_storage
    first = _consent("u1", "web")
    _leaves_counter(s, lambda: s.consents.put(first))  # consents are in no cache
    s.consents.put(_consent("u1", "cli", scopes=(), resources=()))
    s.consents.put(_consent("u2", "web"))
    s.consents.put(_consent("u1", "web", realm="bravo"))
    assert s.consents.get(R, "u1", "web") == first
    assert s.consents.get(R, "u1", "nope") is None and s.consents.get("charlie", "u1", "web") is None
    assert [(c.user_id, c.client_id) for c in s.consents.for_user(R, "u1")] == [("u1", "cli"), ("u1", "web")]
    assert s.consents.for_user(R, "u1")[0] == _consent("u1", "cli", scopes=(), resources=())
    assert s.consents.for_user(R, "nobody") == []

    wider = replace(first, scopes=("openid", "profile", "email", "offline_access"), resources=(API, OTHER_API),
                    grant_id="g-new", updated_at=20)
    _leaves_counter(s, lambda: s.consents.put(wider))
    assert s.consents.get(R, "u1", "web") == wider
    assert len(s.consents.for_user(R, "u1")) == 2  # replaced, not added

    _leaves_counter(s, lambda: s.consents.delete(R, "u1", "web"))
    assert s.consents.get(R, "u1", "web") is None and s.consents.delete(R, "u1", "web") is False
    assert [c.client_id for c in s.consents.for_user(R, "u1")] == ["cli"]
    assert s.consents.get(R, "u2", "web") is not None and s.consents.get("bravo", "u1", "web") is not None


def test_concurrent_first_consents_for_one_pair_all_succeed(sql_storage: Storage) -> None:
    """Sign-ins consenting at once for one user and client all store (one row, a later one kept): none
    fails because another inserted the row first. Several rounds, each on a pair without a row yet."""
    for round_ in range(8):
        user = f"u{round_}"

        def put(i: int, user: str = user) -> bool:
            sql_storage.consents.put(_consent(user, "web", grant_id=f"g{i}"))
            return True

        assert all(_race(12, put))
        [stored] = sql_storage.consents.for_user(R, user)
        assert stored.grant_id in {f"g{i}" for i in range(12)}


def test_deleting_a_user_or_a_client_deletes_its_consents(any_storage: Storage) -> None:
    s = any_storage
    for uid in ("u1", "u2"):
        s.users.put(User(R, uid, "name-" + uid, "ph"))
        s.users.put(User("bravo", uid, "name-" + uid, "ph"))
    s.clients.create(_client("web"))
    s.clients.create(_client("cli"))
    s.clients.create(Client("bravo", "web"))
    for realm in (R, "bravo"):
        for uid in ("u1", "u2"):
            for cid in ("web", "cli"):
                s.consents.put(_consent(uid, cid, realm=realm))
    assert s.users.delete(R, "u1") is True
    assert s.consents.for_user(R, "u1") == []
    assert s.clients.delete(R, "web") is True
    assert [c.client_id for c in s.consents.for_user(R, "u2")] == ["cli"]
    assert len(s.consents.for_user("bravo", "u1")) == 2  # another realm's consents are untouched
    assert len(s.consents.for_user("bravo", "u2")) == 2


# --- clients by resource --------------------------------------------------------------------------

def test_by_resource_found_absent_updated_and_deleted(any_storage: Storage) -> None:
    s = any_storage
    mcp = _resource_server("mcp", API, OTHER_API)
    s.clients.create(mcp)
    s.clients.create(_client("plain"))
    s.clients.create(Client("bravo", "mcp-b", resources=(API,)))  # the same identifier in another realm
    assert s.clients.by_resource(R, API) == mcp
    assert s.clients.by_resource(R, OTHER_API) == mcp
    assert s.clients.by_resource(R, API + "/") is None  # exact string match only
    assert s.clients.by_resource(R, "https://nobody.example/") is None
    assert s.clients.by_resource("bravo", API).client_id == "mcp-b"  # type: ignore[union-attr]
    assert s.clients.by_resource("charlie", API) is None

    narrowed = replace(mcp, resources=(OTHER_API,), name="narrowed")
    assert s.clients.update(narrowed) is True
    narrowed = replace(narrowed, version=1)
    assert s.clients.by_resource(R, API) is None
    assert s.clients.by_resource(R, OTHER_API) == narrowed
    assert s.clients.update(replace(narrowed, resources=(OTHER_API, API)), expected_registration_token_hash="x") \
        is False  # a refused compare-and-swap changes no resource either
    assert s.clients.by_resource(R, API) is None

    assert s.clients.delete(R, "mcp") is True
    assert s.clients.by_resource(R, OTHER_API) is None
    s.clients.create(_resource_server("successor", OTHER_API))  # the identifier is free again
    assert s.clients.by_resource(R, OTHER_API).client_id == "successor"  # type: ignore[union-attr]
    assert s.clients.by_resource("bravo", API).client_id == "mcp-b"  # type: ignore[union-attr]


def test_a_resource_belongs_to_one_client_of_a_realm(any_storage: Storage) -> None:
    s = any_storage
    s.clients.create(_resource_server("mcp", API))
    with pytest.raises(Conflict):
        s.clients.create(_resource_server("thief", OTHER_API, API), burn=("iat-1", 10**10))
    assert s.clients.get(R, "thief") is None and s.clients.by_resource(R, OTHER_API) is None
    assert not s.one_time.is_burned(R, "iat-1")  # the whole creation was undone

    s.clients.create(_resource_server("other", OTHER_API))
    with pytest.raises(Conflict):
        s.clients.update(_resource_server("other", OTHER_API, API))
    assert s.clients.get(R, "other") == _resource_server("other", OTHER_API)  # the update was undone whole
    assert s.clients.by_resource(R, API).client_id == "mcp"  # type: ignore[union-attr]
    assert s.clients.by_resource(R, OTHER_API).client_id == "other"  # type: ignore[union-attr]

    # A client keeping its own identifiers, or listing one twice, conflicts with nobody.
    assert s.clients.update(replace(_resource_server("mcp", API, API), name="renamed")) is True
    assert s.clients.by_resource(R, API).name == "renamed"  # type: ignore[union-attr]
    s.clients.create(_resource_server("twice", "https://twice.example/", "https://twice.example/"))
    assert s.clients.by_resource(R, "https://twice.example/").client_id == "twice"  # type: ignore[union-attr]


def test_create_many_fails_only_the_item_whose_resource_is_taken(any_storage: Storage) -> None:
    s = any_storage
    s.clients.create(_resource_server("mcp", API))
    outcomes = s.clients.create_many([
        NewClient(_resource_server("a", "https://a.example/"), ("iat-a", 10**10)),
        NewClient(_resource_server("thief", API), ("iat-t", 10**10)),  # taken before the batch
        NewClient(_resource_server("b", "https://b.example/")),
        NewClient(_resource_server("late", "https://a.example/")),  # taken earlier in this batch
        NewClient(_resource_server("c")),
    ])
    assert [type(o) for o in outcomes] == [type(None), Conflict, type(None), Conflict, type(None)]
    assert sorted(c.client_id for c in s.clients.all(R)) == ["a", "b", "c", "mcp"]
    assert s.one_time.is_burned(R, "iat-a") and not s.one_time.is_burned(R, "iat-t")
    assert s.clients.by_resource(R, API).client_id == "mcp"  # type: ignore[union-attr]
    assert s.clients.by_resource(R, "https://a.example/").client_id == "a"  # type: ignore[union-attr]
    assert s.clients.by_resource(R, "https://b.example/").client_id == "b"  # type: ignore[union-attr]


# --- the new fields read back whole ---------------------------------------------------------------

def test_browser_sign_in_client_fields_read_back_on_every_path(any_storage: Storage) -> None:
    s = any_storage
    spa = _client("spa", auth_method="none", grant_types=("authorization_code", "refresh_token"),
                  application_type="native", post_logout_redirect_uris=("http://127.0.0.1:8765/bye",),
                  skip_consent=True, resources=(API,))
    s.clients.create(spa)
    assert s.clients.get(R, "spa") == spa and s.clients.all(R) == [spa]
    batched = replace(spa, client_id="spa-2", resources=("https://b.example/",))
    assert s.clients.create_many([NewClient(batched)]) == [None]
    assert s.clients.get(R, "spa-2") == batched
    changed = replace(spa, application_type="web", post_logout_redirect_uris=(), skip_consent=False, resources=())
    assert s.clients.update(changed) is True
    assert s.clients.get(R, "spa") == replace(changed, version=1)
    assert s.clients.get(R, "spa").is_public  # type: ignore[union-attr]


def test_user_name_and_email_round_trip(any_storage: Storage) -> None:
    s = any_storage
    ann = User(R, "u1", "ann", "ph", created_at=3, name="Ann Example", email="ann@example.com")
    s.users.put(ann)
    s.users.put(User(R, "u2", "bob", "ph"))
    assert s.users.get(R, "u1") == ann and s.users.by_username(R, "ann") == ann
    assert s.users.get(R, "u2") == User(R, "u2", "bob", "ph")  # empty when not given
    assert [(u.name, u.email) for u in s.users.all(R)] == [("Ann Example", "ann@example.com"), ("", "")]
    renamed = replace(ann, name="Ann Other", email="")
    s.users.put(renamed)
    assert s.users.get(R, "u1") == renamed
