"""Declarative configuration carries what browser sign-in added: users' `name` and `email`; applications'
`redirect_uris`, `post_logout_redirect_uris`, `resources`, `application_type` and `skip_consent`; the realm's
sign-in settings. Round trip, idempotency, refusals that name the field and change nothing (a resource
identifier another client holds included)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from credo.domain.errors import InvalidRequest
from credo.management.applications import create_application
from credo.management.export import export_realm, import_document
from credo.management.realms import ensure_realm
from credo.oauth.services import Services
from credo.storage.memory import MemoryStorage
from credo.storage.protocols import Storage
from tests.support import SIGNIN_FIELDS_MISSING, keeps_signin_fields, services_for

MCP = "https://mcp.example.com/mcp"
DOC: dict[str, Any] = {
    "realm": "alpha",
    "settings": {"grant_types": ["authorization_code", "refresh_token"], "session_lifetime": 3600,
                 "pkce_optional_for_confidential_clients": True, "skip_consent_for_applications": True,
                 "refresh_requires_offline_access": True,
                 "scope_descriptions": {"openid": "Sign you in", "mcp:tools": "Use the MCP tools"}},
    "users": [{"username": "ada", "password": "ada-password-1", "name": "Ada Lovelace", "email": "ada@example.com"},
              {"username": "bob", "password": "bob-password-1"}],
    "applications": [
        {"client_id": "web-app", "grant_types": ["authorization_code", "refresh_token"],
         "redirect_uris": ["https://app.example.com/cb"], "post_logout_redirect_uris": ["https://app.example.com/"],
         "application_type": "web", "skip_consent": True, "secret": "web-app-secret-0123456789"},
        {"client_id": "phone-app", "auth_method": "none", "grant_types": ["authorization_code"], "skip_consent": True,
         "application_type": "native", "redirect_uris": ["com.example.phone:/cb", "http://127.0.0.1/cb"]},
        {"client_id": "mcp-server", "resources": [MCP, "http://localhost:3000/mcp"]},
    ],
}


@pytest.fixture
def services(any_storage: Storage, tmp_path: Path) -> Services:
    if not keeps_signin_fields(any_storage):
        pytest.skip(SIGNIN_FIELDS_MISSING)
    return services_for(any_storage, tmp_path)


def _by_id(exported: dict[str, Any], section: str, key: str = "client_id") -> dict[str, dict[str, Any]]:
    return {e[key]: e for e in exported[section]}


def test_round_trip_with_the_signin_fields(services: Services, tmp_path: Path) -> None:
    counts = import_document(services, copy.deepcopy(DOC))
    assert counts["users"] == 2 and counts["applications"] == 3 and counts["settings"] == 1
    exported = export_realm(services, "alpha")
    users, apps = _by_id(exported, "users", "username"), _by_id(exported, "applications")
    assert (users["ada"]["name"], users["ada"]["email"]) == ("Ada Lovelace", "ada@example.com")
    assert (users["bob"]["name"], users["bob"]["email"]) == ("", "")
    for app in DOC["applications"]:
        for key in ("redirect_uris", "post_logout_redirect_uris", "resources", "application_type", "skip_consent"):
            assert apps[app["client_id"]][key] == app.get(key, {"application_type": "web", "skip_consent": False}.get(
                key, [])), (app["client_id"], key)
    assert {k: exported["settings"][k] for k in DOC["settings"]} == DOC["settings"]
    assert set(import_document(services, copy.deepcopy(DOC)).values()) == {0}
    other = services_for(MemoryStorage(), tmp_path)
    import_document(other, yaml.safe_load(yaml.safe_dump(exported)))
    assert export_realm(other, "alpha") == exported
    assert set(import_document(other, exported).values()) == {0}


def test_a_changed_document_changes_only_what_changed(services: Services) -> None:
    import_document(services, copy.deepcopy(DOC))
    doc = copy.deepcopy(DOC)
    doc["users"][0]["email"] = "ada@lovelace.example"
    doc["users"][1]["name"] = "Bob"
    doc["applications"][2]["resources"] = [MCP, "https://tools.example.com/mcp"]  # one added, one left out
    doc["applications"][0]["skip_consent"] = False
    doc["settings"]["scope_descriptions"] = {"openid": "  Sign in "}  # stored trimmed: the same next time
    counts = import_document(services, doc)
    assert (counts["users"], counts["applications"], counts["settings"]) == (2, 2, 1)
    ada = services.storage.users.by_username("alpha", "ada")
    bob = services.storage.users.by_username("alpha", "bob")
    assert ada is not None and (ada.name, ada.email) == ("Ada Lovelace", "ada@lovelace.example")
    assert bob is not None and bob.name == "Bob"
    mcp, web = services.storage.clients.get("alpha", "mcp-server"), services.storage.clients.get("alpha", "web-app")
    assert mcp is not None and mcp.resources == (MCP, "http://localhost:3000/mcp", "https://tools.example.com/mcp")
    assert web is not None and not web.skip_consent
    assert services.realm("alpha").settings.scope_descriptions == {"openid": "Sign in", "mcp:tools": "Use the MCP tools"}
    assert set(import_document(services, doc).values()) == {0}


def _app(**fields: Any) -> dict[str, Any]:
    return {"realm": "alpha", "applications": [{"client_id": "late-app", **fields}]}


@pytest.mark.parametrize("doc, field, words", [
    ({"realm": "alpha", "users": [{"username": "u", "password": "u-password-1", "email": "nope"}]}, "users.email",
     "is not an email address"),
    ({"realm": "alpha", "users": [{"username": "u", "password": "u-password-1", "email": 5}]}, "users.email",
     "users.email: must be a string."),  # the document's shape, checked first
    ({"realm": "alpha", "users": [{"username": "u", "password": "u-password-1", "name": "x" * 256}]}, "users.name",
     "at most 255"),
    (_app(redirect_uris=["http://app.example.com/cb"]), "applications.redirect_uris", "must be an absolute https URL"),
    (_app(redirect_uris="https://app.example.com/cb"), "applications.redirect_uris", "must be a list of strings"),
    (_app(post_logout_redirect_uris=["https://app.example.com/#top"]), "applications.post_logout_redirect_uris",
     "must not have a fragment"),
    (_app(resources=["mcp.example.com"]), "applications.resources", "must be an absolute https URL"),
    (_app(application_type="desktop"), "applications.application_type", "must be 'web' or 'native'"),
    (_app(application_type=1), "applications.application_type", "applications.application_type: must be a string."),
    (_app(skip_consent="yes"), "applications.skip_consent", "applications.skip_consent: must be true or false."),
    ({"realm": "alpha", "agents": [{"client_id": "bot", "resources": [MCP]}]}, "agents.resources",
     "only applications have browser sign-in settings"),
    ({"realm": "alpha", "settings": {"scope_descriptions": {"bad scope": "x"}}}, "settings.scope_descriptions",
     "is not a valid scope"),
    ({"realm": "alpha", "settings": {"session_lifetime": 1}}, "settings.session_lifetime", "must be at least"),
    ({"realm": "alpha", "applications": [{"client_id": "one", "resources": [MCP]}, {"client_id": "two", "resources": [MCP]}]},
     "applications.resources", "already a resource identifier of client 'one'"),
])
def test_bad_signin_fields_name_the_field_and_change_nothing(services: Services, doc: dict[str, Any], field: str,
                                                             words: str) -> None:
    ensure_realm(services, "alpha")
    before = export_realm(services, "alpha")
    with pytest.raises(InvalidRequest) as caught:
        import_document(services, {**copy.deepcopy(DOC), **doc})
    assert caught.value.description.startswith(f"{field}:") and words in caught.value.description, caught.value.description
    assert export_realm(services, "alpha") == before


def test_a_resource_held_by_a_client_outside_the_document_stops_the_import_before_any_write(services: Services) -> None:
    ensure_realm(services, "alpha")
    create_application(services, "alpha", "holder", name="Holder", resources=(MCP,))
    before = export_realm(services, "alpha")
    doc = copy.deepcopy(DOC)  # users, settings and two applications come first; the last one collides
    doc["applications"][2]["resources"] = ["https://free.example/", MCP]
    with pytest.raises(InvalidRequest) as caught:
        import_document(services, doc)
    assert caught.value.description == (
        f"applications.resources: applications[2] 'mcp-server': '{MCP}' is already a resource identifier of client "
        "'holder' (a resource identifier belongs to one client of a realm).")
    assert export_realm(services, "alpha") == before
