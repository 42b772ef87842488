"""Declarative configuration: import → export → import round trip, idempotency, secrets never in clear,
and every shipped example imports cleanly (on memory, SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from credo.domain.errors import InvalidRequest
from credo.management import usecases
from credo.management.export import export_realm, import_document
from credo.oauth.services import Services
from credo.storage.protocols import Storage
from tests.support import services_for

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TX = "urn:ietf:params:oauth:grant-type:token-exchange"
CLEAR = ("Demo-Passw0rd-Barbara", "demo-web-app-secret-change-me", "demo-assistant-agent-secret-change-me")


@pytest.fixture
def services(any_storage: Storage, tmp_path: Path) -> Services:
    return services_for(any_storage, tmp_path)


def _load(name: str) -> dict[str, object]:
    return yaml.safe_load((EXAMPLES / name).read_text())  # type: ignore[no-any-return]


def test_import_is_idempotent_and_secrets_stay_hashed(services: Services) -> None:
    doc = _load("on-behalf-of.yaml")
    first = import_document(services, doc)
    assert first["users"] == 1 and first["applications"] == 1 and first["agents"] == 1 and first["policies"] == 1
    exported = export_realm(services, "alpha")
    audit_count = len(services.storage.audit.query("alpha", limit=1000))
    second = import_document(services, doc)
    assert set(second.values()) == {0}
    assert export_realm(services, "alpha") == exported
    assert len(services.storage.audit.query("alpha", limit=1000)) == audit_count
    text = json.dumps(exported)
    for secret in CLEAR:
        assert secret not in text
    assert "password" not in exported["users"][0] and exported["users"][0]["password_hash"].startswith("argon2$")
    app = exported["applications"][0]
    assert app["secret_hash"].startswith("argon2$") and "secret" not in app
    user = services.storage.users.by_username("alpha", "barbara.jensen")
    assert user is not None and services.hasher.verify("Demo-Passw0rd-Barbara", user.password_hash)
    agent = services.storage.clients.get("alpha", "digital-assistant-ai-agent")
    assert agent is not None and agent.accepts_audience and agent.stateless_tokens is True
    assert services.hasher.verify("demo-assistant-agent-secret-change-me", agent.secret_hash)
    policy = services.storage.policies.get("alpha", "digital-assistant-ai-agent", "digital-assistant-web-app")
    assert policy is not None and policy.subjects == (user.id,) and policy.permissions == ("read-data",)


def test_round_trip_into_another_store(services: Services, tmp_path: Path) -> None:
    from credo.storage.memory import MemoryStorage

    for name in ("ai-agent-dcr-onboarding.yaml", "on-behalf-of.yaml", "autonomous-agent.yaml"):
        import_document(services, _load(name))
    exported = export_realm(services, "alpha")
    other = services_for(MemoryStorage(), tmp_path)
    import_document(other, yaml.safe_load(yaml.safe_dump(exported)))
    again = export_realm(other, "alpha")
    assert again == exported  # same hashes, ids, attributes, policies, script
    assert set(import_document(other, again).values()) == {0}
    agent = other.storage.clients.get("alpha", "bot-traffic-analyzer-agent")
    assert agent is not None and other.hasher.verify("demo-bot-analyzer-secret-change-me", agent.secret_hash)
    script_id = other.realm("alpha").settings.dcr_script
    assert script_id and other.storage.scripts.get("alpha", script_id) is not None


def test_changed_document_updates_only_what_changed(services: Services) -> None:
    doc = _load("autonomous-agent.yaml")
    import_document(services, doc)
    doc["applications"][0]["scopes"] = ["logs-read", "logs-export"]  # type: ignore[index]
    doc["agents"][0]["secret"] = "another-demo-secret-for-the-bot"  # type: ignore[index]
    counts = import_document(services, doc)
    assert (counts["applications"], counts["agents"], counts["policies"], counts["secrets_kept"]) == (1, 0, 0, 1)
    app = services.storage.clients.get("alpha", "web-server-logs-api-app")
    agent = services.storage.clients.get("alpha", "bot-traffic-analyzer-agent")
    assert app is not None and app.scopes == ("logs-read", "logs-search", "logs-export")  # added, none taken away
    assert agent is not None and services.hasher.verify("demo-bot-analyzer-secret-change-me", agent.secret_hash)
    doc["agents"][0]["reset_secret"] = True  # type: ignore[index]
    counts = import_document(services, doc)
    assert (counts["agents"], counts["secrets_kept"]) == (1, 0)
    agent = services.storage.clients.get("alpha", "bot-traffic-analyzer-agent")
    assert agent is not None and services.hasher.verify("another-demo-secret-for-the-bot", agent.secret_hash)
    assert set(import_document(services, doc).values()) == {0}


FIRST: dict[str, Any] = {
    "realm": "alpha",
    "settings": {"grant_types": ["client_credentials", "password"], "registration_scope_allowlist": ["a", "b"],
                 "access_token_lifetime": 600,
                 "protection": {"require_software_statement": True, "policy": {"allowed_scopes": ["a"]}}},
    "scripts": [{"name": "s", "description": "what it does", "source": "var x = 1;"}],
    "users": [{"username": "ada", "password": "ada-password-1", "active": False}],
    "groups": [{"name": "team", "members": ["ada"]}],
    "applications": [{"client_id": "app", "grant_types": ["client_credentials"], "scopes": ["read"],
                      "owners": ["ops"], "attributes": {"k1": ["v"]}, "secret": "app-secret-0123456789"}],
    "agents": [{"client_id": "bot", "grant_types": [TX], "scopes": ["m"], "secret": "bot-secret-0123456789",
                "policies": [{"application": "app", "subjects": ["ada"], "permissions": ["read"]}]}],
}
SECOND: dict[str, Any] = {
    "realm": "alpha",
    "settings": {"grant_types": [TX], "registration_scope_allowlist": ["c", "a"], "access_token_lifetime": None,
                 "protection": {"policy": {"allowed_scopes": ["c"]}}},
    "scripts": [{"name": "s", "source": "var x = 2;"}],
    "users": [{"username": "bob", "password": "bob-password-1"}, {"username": "ada", "password": "ada-password-1"}],
    "groups": [{"name": "team", "members": ["bob"]}],
    "applications": [{"client_id": "app", "scopes": ["write"], "attributes": {"k2": ["w"]}}],
    "agents": [{"client_id": "bot", "policies": [{"application": "app", "subjects": ["bob"]}]}],
}


def test_an_import_adds_to_what_grants_sets_what_limits_and_keeps_what_it_does_not_name(services: Services) -> None:
    import_document(services, FIRST)
    counts = import_document(services, SECOND)
    assert counts["settings"] == 1 and counts["users"] == 1 and counts["secrets_kept"] == 0
    settings = services.realm("alpha").settings
    assert settings.grant_types == ("client_credentials", "password", TX)  # added to, in a realm that existed
    assert settings.registration_scope_allowlist == ("a", "b", "c")
    assert settings.protection.policy.allowed_scopes == ("c",)  # a limit is set as written
    assert settings.protection.require_software_statement  # a member left out of an object: kept
    assert settings.access_token_lifetime == 3600  # null: back to the default
    ada, bob = (services.storage.users.by_username("alpha", name) for name in ("ada", "bob"))
    assert ada is not None and not ada.active and bob is not None and bob.active  # `active` left out: kept
    group = services.storage.groups.get("alpha", "team")
    assert group is not None and sorted(group.members) == sorted((ada.id, bob.id))
    app = services.storage.clients.get("alpha", "app")
    assert app is not None and (app.grant_types, app.scopes, app.owners) == (("client_credentials",),
                                                                             ("read", "write"), ("ops",))
    assert app.attributes == {"k1": ["v"], "k2": ["w"]}
    policy = services.storage.policies.get("alpha", "bot", "app")
    assert policy is not None and sorted(policy.subjects) == sorted((ada.id, bob.id))
    assert policy.permissions == ("read",)  # left out: kept
    script = usecases.list_scripts(services, "alpha")[0]
    assert (script.source, script.description) == ("var x = 2;", "what it does")
    assert set(import_document(services, SECOND).values()) == {0}


def test_a_realm_the_import_creates_takes_the_lists_as_written(services: Services) -> None:
    import_document(services, {"realm": "alpha", "settings": {"grant_types": [TX], "registration_scope_allowlist": []}})
    settings = services.realm("alpha").settings
    assert settings.grant_types == (TX,) and settings.registration_scope_allowlist == ()


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.glob("*.yaml")))
def test_every_example_imports_twice_without_changes(services: Services, example: str) -> None:
    doc = _load(example)
    import_document(services, doc)
    snapshot = export_realm(services, "alpha")
    assert set(import_document(services, doc).values()) == {0}
    assert export_realm(services, "alpha") == snapshot


@pytest.mark.parametrize("doc, field", [
    ({}, "realm"),
    ({"realm": "alpha", "version": 2}, "version"),
    ({"realm": "alpha", "settings": {"access_token_lifetime": 1}}, "settings.access_token_lifetime"),
    ({"realm": "alpha", "users": [{"username": "x"}]}, "users.password"),
    ({"realm": "alpha", "users": "nope"}, "users"),
    ({"realm": "alpha", "groups": [{"name": "g", "members": ["ghost"]}]}, "groups.members"),
    ({"realm": "alpha", "applications": [{"name": "no id"}]}, "applications.client_id"),
    ({"realm": "alpha", "scripts": [{"name": "s"}]}, "scripts.source"),
    ({"realm": "alpha", "applications": [{"client_id": "a", "scopes": "a b"}]}, "applications.scopes"),
    ({"realm": "alpha", "agents": [{"client_id": "a", "attributes": {"x": "true"}}]}, "agents.attributes"),
    ({"realm": "alpha", "agents": [{"client_id": "a", "policies": [{"application": "x", "subjects": [1]}]}]},
     "agents.policies.subjects"),
    ({"realm": "alpha", "users": [{"username": "u", "password": "p4ssword!", "active": "yes"}]}, "users.active"),
    ({"realm": "alpha", "users": [{"username": "u", "password": 12345678}]}, "users.password"),
    ({"realm": "alpha", "users": [{"username": "u", "password": "p4ssword!"}], "agents": [{"client_id": 5}]},
     "agents.client_id"),
])
def test_bad_documents_name_the_field(services: Services, doc: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        import_document(services, doc)
    assert caught.value.description.startswith(f"{field}:")
    assert services.storage.clients.all("alpha") == [] and services.storage.users.all("alpha") == []
    assert services.storage.realms.get("alpha") is None or field.startswith(("settings", "groups", "scripts"))
