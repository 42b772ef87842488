"""Deleting a realm deletes everything scoped to it, in one transaction, on every backend: a realm created
again under the same name starts empty (no client, secret, resource identifier, user, consent, group,
policy, script, token, burned id, signing key or count of tokens issued comes back), other realms are untouched, and the audit
trail stays."""

from __future__ import annotations

from credo.domain.models import (
    ApplicationPolicy,
    AuditEvent,
    Client,
    Consent,
    Group,
    Realm,
    Script,
    SigningKey,
    TokenRecord,
    User,
)
from credo.management.clients import create_client
from credo.management.demo import DEMO_SETTINGS
from credo.management.realms import delete_realm, ensure_realm
from credo.storage.protocols import Storage
from tests.support import Server

RESOURCE = "https://api.example.com/mcp"


def _fill(storage: Storage, realm: str) -> None:
    storage.realms.put(Realm(realm))
    storage.clients.create(Client(realm, "c1", secret_hash="h1$" + "0" * 64, resources=(RESOURCE,)))
    storage.clients.touch(realm, "c1", 1_700_000_000)
    storage.users.put(User(realm, "u1", "ann", "argon2$x", name="Ann", email="ann@example.com"))
    storage.consents.put(Consent(realm, "u1", "c1", scopes=("openid",), resources=(RESOURCE,), grant_id="g1"))
    storage.groups.put(Group(realm, "g1", members=("u1",)))
    storage.policies.put(ApplicationPolicy(realm, "c1", "app"))
    storage.scripts.put(Script(realm, "s1", "script", "1;"))
    storage.tokens.add(TokenRecord(token_hash=f"hash-{realm}", realm=realm, jti=f"jti-{realm}", kind="access_token",
                                   client_id="c1", sub="c1", scopes=(), issued_at=1, expires_at=2_000_000_000))
    storage.one_time.burn(realm, "revoked:jti", 2_000_000_000)
    storage.keys.add(SigningKey(realm, "k1", "ES256", b"sealed", {"kty": "EC"}, created_at=1))
    storage.audit.add(AuditEvent(realm=realm, action="realm.create", actor="test", target=realm, ts=1))
    storage.usage.note(realm, "client_credentials", 1_700_000_000)
    storage.usage.flush()
    storage.usage.note(realm, "password", 1_700_000_000)  # still in this process's tally


def _contents(storage: Storage, realm: str) -> dict[str, object]:
    return {
        "client": storage.clients.get(realm, "c1"), "clients": storage.clients.count(realm),
        "resource": storage.clients.by_resource(realm, RESOURCE), "consents": storage.consents.for_user(realm, "u1"),
        "last_used": storage.clients.last_used(realm, "c1"), "user": storage.users.get(realm, "u1"),
        "username": storage.users.by_username(realm, "ann"), "group": storage.groups.get(realm, "g1"),
        "groups_of": storage.groups.groups_of(realm, "u1"), "policy": storage.policies.get(realm, "c1", "app"),
        "script": storage.scripts.get(realm, "s1"), "token": storage.tokens.get(f"hash-{realm}"),
        "burned": storage.one_time.is_burned(realm, "revoked:jti"), "keys": storage.keys.all(realm),
        "tokens_issued": storage.usage.issued(realm, 0),
    }


EMPTY = {"client": None, "clients": 0, "resource": None, "consents": [], "last_used": None, "user": None, "username": None, "group": None,
         "groups_of": [], "policy": None, "script": None, "token": None, "burned": False, "keys": [],
         "tokens_issued": {}}


def test_nothing_of_a_deleted_realm_survives(any_storage: Storage) -> None:
    _fill(any_storage, "gone")
    _fill(any_storage, "kept")
    kept = _contents(any_storage, "kept")
    assert _contents(any_storage, "gone") != EMPTY
    assert any_storage.realms.delete("gone") is True
    assert any_storage.realms.get("gone") is None
    any_storage.realms.put(Realm("gone"))  # created again under the same name
    assert _contents(any_storage, "gone") == EMPTY
    # The identifier is free in the new realm (a leftover row would make this a Conflict).
    any_storage.clients.create(Client("gone", "c2", resources=(RESOURCE,)))
    assert any_storage.clients.by_resource("gone", RESOURCE).client_id == "c2"  # type: ignore[union-attr]
    assert _contents(any_storage, "kept") == kept
    assert [e.action for e in any_storage.audit.query("gone")] == ["realm.create"]  # history stays


def test_old_tokens_and_secrets_are_dead_in_a_realm_created_again(sqlite_server: Server,
                                                                   sqlite_demo: dict[str, str]) -> None:
    services = sqlite_server.services
    base = sqlite_server.realm_url("alpha")
    with sqlite_server.client() as http:
        form = {"grant_type": "client_credentials", "client_id": "bench-client",
                "client_secret": sqlite_demo["bench-client"], "scope": "data-read"}
        old_jwt = http.post(f"{base}/access_token", data=form).json()["access_token"]
        delete_realm(services, "alpha")
        ensure_realm(services, "alpha", DEMO_SETTINGS)
        _, secret = create_client(services, "alpha", "checker", scopes=("data-read",))
        assert secret is not None
        r = http.post(f"{base}/access_token", data=form)
        assert (r.status_code, r.json()["error"]) == (401, "invalid_client")
        r = http.post(f"{base}/introspect", data={"token": old_jwt, "client_id": "checker", "client_secret": secret})
        assert r.json() == {"active": False}
