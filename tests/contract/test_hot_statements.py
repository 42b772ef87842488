"""The hot statements (on SQL, the driver path: sqlite3 or psycopg) on every backend: every row of a batch is
stored, a failed batch stores nothing, none of them moves the change counter, and every administration
change moves it by exactly one."""

from __future__ import annotations

import pytest

from credo.domain.models import AuditEvent, Client, Realm, TokenRecord
from credo.domain.settings import ProviderSettings
from credo.storage.protocols import Conflict, NewClient, Storage


def _token(h: str) -> TokenRecord:
    return TokenRecord(token_hash=h, realm="r", jti="jti-" + h, kind="refresh_token", client_id="c", sub="u",
                       scopes=("openid", "data-read"), issued_at=7, expires_at=10**10,
                       claims={"aud": ["a", "b"], "n": 1, "s": "é\u2028%s?"})


def _event(n: int, target: str = "app") -> AuditEvent:
    return AuditEvent("r", "token_exchange", f"agent-{n}", "allow", target, "", {"n": n}, ts=n)


def test_hot_writes_move_no_counter_and_changes_move_it_by_one(any_storage: Storage) -> None:
    s = any_storage
    start = s.change_counter()
    s.tokens.add(_token("t1"))
    s.tokens.add_many([_token("t2"), _token("t3")])
    s.tokens.add_many([_token("t4")])
    s.audit.add(_event(1))
    s.audit.add_many([_event(2)])
    s.audit.add_many([_event(3), _event(4)])
    assert s.one_time.burn("r", "jti-x", 10**10) is True
    s.clients.create(Client(realm="r", client_id="c"), burn=("iat-1", 10**10), audit=_event(5))
    assert s.clients.create_many([NewClient(Client(realm="r", client_id="d"), None, _event(6))]) == [None]
    s.clients.touch("r", "c", 99)
    assert s.change_counter() == start
    s.realms.put(Realm("r", ProviderSettings()))
    assert s.change_counter() == start + 1
    s.clients.update(Client(realm="r", client_id="c", name="renamed"))
    assert s.change_counter() == start + 2
    assert s.realms.get("r") == Realm("r", ProviderSettings())
    assert s.clients.get("r", "c") == Client(realm="r", client_id="c", name="renamed", version=1)
    assert s.change_counter() == start + 2  # reads move nothing


def test_every_token_of_a_batch_reads_back_field_by_field(any_storage: Storage) -> None:
    s = any_storage
    batch = [_token(f"h{i}") for i in range(7)]
    s.tokens.add_many(batch)
    assert [s.tokens.get(t.token_hash) for t in batch] == batch


def test_a_single_token_batch_conflicts_like_add(any_storage: Storage) -> None:
    s = any_storage
    s.tokens.add(_token("h"))
    with pytest.raises(Conflict):
        s.tokens.add_many([_token("h")])
    with pytest.raises(Conflict):  # the duplicate last: the rows before it are undone too
        s.tokens.add_many([_token("a"), _token("b"), _token("h")])
    assert s.tokens.get("a") is None and s.tokens.get("b") is None


def test_every_audit_event_of_a_batch_is_stored_whole(any_storage: Storage) -> None:
    s = any_storage
    long_target = "agent->" + "x" * 600  # longer than the other columns: the target column is unbounded
    batch = [_event(n, target=long_target if n == 9 else f"app-{n}") for n in range(10)]
    s.audit.add_many(batch)
    stored = s.audit.query("r", limit=100)
    assert [(e.actor, e.target, e.details, e.ts) for e in reversed(stored)] == [
        (e.actor, e.target, e.details, e.ts) for e in batch]
    assert all(e.decision == "allow" and e.reason == "" and e.action == "token_exchange" for e in stored)


def test_a_created_client_reads_back_whole(any_storage: Storage) -> None:
    s = any_storage
    client = Client(realm="r", client_id="full", secret_hash="h1$" + "b" * 64, kind="agent", name="Full",
                    grant_types=("client_credentials",), scopes=("a", "b"), auth_method="private_key_jwt",
                    redirect_uris=("https://x.example/cb",), response_types=("code",), attributes={"k": [1, "v"]},
                    metadata={"jwks_uri": "https://x.example/jwks"}, enabled=False, dynamic=True, created_at=3,
                    updated_at=4, app_type="native", owners=("u1", "u2"), registration_token_hash="rt",
                    registration_token_expires_at=77)
    outcomes = s.clients.create_many([NewClient(client, ("iat-9", 10**10), _event(1, target="full")),
                                      NewClient(Client(realm="r", client_id="other"))])
    assert outcomes == [None, None]
    assert s.clients.get("r", "full") == client
    assert s.clients.all("r", dynamic=True) == [client]
    assert s.one_time.any_burned("r", ("nope", "iat-9")) and not s.one_time.any_burned("other", ("iat-9", "x"))
    assert [e.target for e in s.audit.query("r")] == ["full"]
