"""A configuration document refused for its meaning part-way changes nothing (memory, SQLite, PostgreSQL)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from credo.domain.errors import InvalidRequest
from credo.management.export import export_realm, import_document
from credo.oauth.services import Services
from credo.storage.protocols import Storage
from tests.support import Server, services_for

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def services(any_storage: Storage, tmp_path: Path) -> Services:
    s = services_for(any_storage, tmp_path)
    import_document(s, yaml.safe_load((EXAMPLES / "on-behalf-of.yaml").read_text()))
    return s


def _changing_everything(services: Services) -> dict[str, Any]:
    """The realm's own export, with a change in every section, so any write part-way would show."""
    doc = copy.deepcopy(export_realm(services, "alpha"))
    doc["settings"] = {"access_token_lifetime": 1234}
    doc["scripts"] = [{"name": "new-script", "source": "function process(r) { return r; }"}]
    doc["users"].append({"username": "new.user", "password": "New-Passw0rd-123"})
    doc["groups"] = [{"name": "new-group", "members": ["new.user"]}]
    doc["applications"][0]["name"] = "Renamed application"
    doc["applications"].append({"client_id": "new-app", "secret": "new-app-secret-0123456789"})
    doc["agents"][0]["name"] = "Renamed agent"
    return doc


def _policy(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["agents"][0]["policies"][0]  # type: ignore[no-any-return]


BAD_LAST_ENTRIES = {
    "agents.policies.subjects": lambda d: _policy(d).update(subjects=["ghost"]),
    "agents.policies.subject_groups": lambda d: _policy(d).update(subject_groups=["no-such-group"]),
    "agents.policies.application": lambda d: _policy(d).update(application="no-such-app"),
    "agents.policies.permissions": lambda d: _policy(d).update(permissions=["bad scope"]),
    "agents.client_id": lambda d: d["agents"].append({"client_id": "new-app"}),  # an application in this document
    "agents.grant_types": lambda d: d["agents"].append({"client_id": "x-agent", "grant_types": ["magic"]}),
    "applications.app_type": lambda d: d["applications"].append({"client_id": "x-app", "app_type": "desktop"}),
    "applications.auth_method": lambda d: d["applications"].append({"client_id": "x-app", "auth_method": "pigeon"}),
    "applications.client_id": lambda d: d["applications"].append({"client_id": "bad id!"}),
    "groups.members": lambda d: d["groups"].append({"name": "late-group", "members": ["ghost"]}),
    "settings.token_format": lambda d: d["settings"].update(token_format="paper"),
}


@pytest.mark.parametrize("field", sorted(BAD_LAST_ENTRIES))
def test_a_bad_last_entry_changes_nothing(services: Services, field: str) -> None:
    before = export_realm(services, "alpha")
    audit_before = len(services.storage.audit.query("alpha", limit=10_000))
    doc = _changing_everything(services)
    BAD_LAST_ENTRIES[field](doc)
    with pytest.raises(InvalidRequest) as caught:
        import_document(services, doc)
    assert caught.value.description.startswith(f"{field}:"), caught.value.description
    assert export_realm(services, "alpha") == before
    assert len(services.storage.audit.query("alpha", limit=10_000)) == audit_before


def test_the_same_document_without_the_bad_entry_imports(services: Services) -> None:
    doc = _changing_everything(services)
    counts = import_document(services, doc)
    assert counts["users"] == 1 and counts["groups"] == 1 and counts["scripts"] == 1 and counts["settings"] == 1
    after = export_realm(services, "alpha")
    assert after["settings"]["access_token_lifetime"] == 1234
    assert {a["client_id"] for a in after["applications"]} >= {"new-app"}


def test_a_new_realm_is_not_created_by_a_refused_document(services: Services) -> None:
    doc = {"realm": "brand-new", "users": [{"username": "u", "password": "Passw0rd-long"}],
           "groups": [{"name": "g", "members": ["ghost"]}]}
    with pytest.raises(InvalidRequest):
        import_document(services, doc)
    assert services.storage.realms.get("brand-new") is None
    assert services.storage.users.by_username("brand-new", "u") is None


def test_over_http_a_refused_document_changes_nothing(server: Server) -> None:
    from tests.factories import assert_oauth_error
    from tests.http.admin_support import Admin

    import_document(server.services, yaml.safe_load((EXAMPLES / "on-behalf-of.yaml").read_text()))
    admin = Admin(server)
    try:
        before = admin("GET", "/realms/alpha/config").json()
        doc = _changing_everything(server.services)
        _policy(doc).update(subjects=["ghost"])
        r = admin("PUT", "/realms/alpha/config", doc)
        assert_oauth_error(r, 400, "invalid_request", "agents.policies.subjects")
        assert admin("GET", "/realms/alpha/config").json() == before
    finally:
        admin.close()
