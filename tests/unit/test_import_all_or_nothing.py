"""Import is all or nothing for every per-record rule too: a document whose last record breaks a rule
of the use cases (a weak secret, a too-long username, a script that does not compile, ...) leaves the
store exactly as before, and the error names the field, the record and the rule. On memory, SQLite and
PostgreSQL; through `credo import` (exit status 2) and through the admin API."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from credo.domain.errors import InvalidRequest
from credo.management.export import export_realm, import_document
from credo.oauth.services import Services
from credo.storage.protocols import Storage
from tests.procs import run_cli
from tests.support import Server, services_for
from tests.unit.test_import_atomicity import EXAMPLES, _changing_everything

Change = Callable[[dict[str, Any]], None]


def _append(section: str, entry: dict[str, Any]) -> Change:
    return lambda d: d[section].append(entry)


def _barbara_id(d: dict[str, Any]) -> str:
    return next(u["id"] for u in d["users"] if u["username"] == "barbara.jensen")  # type: ignore[no-any-return]


LONG = "u" * 256
# field -> (change making the section's last record bad, the record as the error names it, the rule's words)
BAD_LAST_RECORDS: dict[str, tuple[Change, str, str]] = {
    "agents.secret": (_append("agents", {"client_id": "late-agent", "secret": "too-short"}),
                      "agents[1] 'late-agent'", "a client secret needs at least 16 characters"),
    "applications.secret": (lambda d: d["applications"][-1].update(secret="short-again"),
                            "applications[1] 'new-app'", "a client secret needs at least 16 characters"),
    "applications.name": (_append("applications", {"client_id": "late-app", "name": "n" * 256}),
                          "applications[2] 'late-app'", "must be a string of at most 255 characters"),
    "agents.name": (_append("agents", {"client_id": "late-agent", "name": "n" * 256}),
                    "agents[1] 'late-agent'", "must be a string of at most 255 characters"),
    "applications.owners": (_append("applications", {"client_id": "late-app", "owners": ["bad\nowner"]}),
                            "applications[2] 'late-app'", "each owner is a username or admin name"),
    "users.username": (_append("users", {"username": LONG, "password": "Long-Enough-Passw0rd"}),
                       f"users[2] '{LONG[:40]}...'", "use 1 to 255 characters"),
    "users.password": (_append("users", {"username": "late.user", "password": "p" * 1025}),
                       "users[2] 'late.user'", "at most 1024 characters"),
    "users.id": (lambda d: d["users"].append({"username": "late.user", "password": "Long-Enough-Passw0rd",
                                              "id": _barbara_id(d)}),
                 "users[2] 'late.user'", "already exists"),
    "scripts.source": (_append("scripts", {"name": "late-script", "source": "function process( {"}),
                       "scripts[1] 'late-script'", "the script does not compile"),
    "scripts.name": (_append("scripts", {"name": "n" * 256, "source": "function process(r) { return r; }"}),
                     f"scripts[1] '{'n' * 40}...'", "at most 255 characters"),
}


@pytest.fixture
def services(any_storage: Storage, tmp_path: Path) -> Services:
    s = services_for(any_storage, tmp_path)
    import_document(s, yaml.safe_load((EXAMPLES / "on-behalf-of.yaml").read_text()))
    return s


@pytest.mark.parametrize("field", sorted(BAD_LAST_RECORDS))
def test_a_bad_last_record_changes_nothing_and_is_named(services: Services, field: str) -> None:
    change, record, rule = BAD_LAST_RECORDS[field]
    before = export_realm(services, "alpha")
    audit_before = len(services.storage.audit.query("alpha", limit=10_000))
    doc = _changing_everything(services)
    change(doc)
    with pytest.raises(InvalidRequest) as caught:
        import_document(services, doc)
    assert caught.value.description.startswith(f"{field}: {record}: "), caught.value.description
    assert rule in caught.value.description
    assert export_realm(services, "alpha") == before
    assert len(services.storage.audit.query("alpha", limit=10_000)) == audit_before


def test_a_bad_record_in_a_new_realm_creates_no_realm(services: Services) -> None:
    doc = {"realm": "brand-new", "scripts": [{"name": "s", "source": "function process(r) { return r; }"}],
           "users": [{"username": "ok.user", "password": "Long-Enough-Passw0rd"},
                     {"username": "bad\x01user", "password": "Long-Enough-Passw0rd"}]}
    with pytest.raises(InvalidRequest) as caught:
        import_document(services, doc)
    assert caught.value.description == "users.username: users[1] 'bad\x01user': control characters are not allowed."
    assert services.storage.realms.get("brand-new") is None
    assert services.storage.keys.all("brand-new") == []


def test_a_too_long_hash_is_refused_before_anything(services: Services) -> None:
    doc = _changing_everything(services)
    doc["users"].append({"username": "late.user", "password_hash": "argon2$" + "x" * 300})
    before = export_realm(services, "alpha")
    with pytest.raises(InvalidRequest) as caught:
        import_document(services, doc)
    assert caught.value.description == "users.password_hash: at most 255 characters."
    assert export_realm(services, "alpha") == before


def test_an_accepted_document_stores_argon2_hashes_not_the_rehearsals(services: Services) -> None:
    doc = _changing_everything(services)
    doc["applications"].append({"client_id": "chosen-secret-app", "secret": "a-chosen-secret-0123"})
    counts = import_document(services, doc)
    assert counts["applications"] == 3 and counts["users"] == 1 and counts["scripts"] == 1
    user = services.storage.users.by_username("alpha", "new.user")
    app = services.storage.clients.get("alpha", "chosen-secret-app")
    assert user is not None and user.password_hash.startswith("argon2$")
    assert app is not None and app.secret_hash is not None and app.secret_hash.startswith("argon2$")
    assert services.hasher.verify("a-chosen-secret-0123", app.secret_hash)
    assert services.hasher.verify("New-Passw0rd-123", user.password_hash)
    assert set(import_document(services, doc).values()) == {0}


def test_the_cli_refuses_a_bad_last_record_with_status_2_and_changes_nothing(tmp_path: Path) -> None:
    assert run_cli(tmp_path, "import", str(EXAMPLES / "on-behalf-of.yaml")).returncode == 0
    before = run_cli(tmp_path, "export", "alpha", "--format", "json")
    assert before.returncode == 0, before.stderr
    doc = copy.deepcopy(json.loads(before.stdout))
    doc["settings"] = {"access_token_lifetime": 1234}
    doc["users"].append({"username": "new.user", "password": "New-Passw0rd-123"})
    doc["agents"].append({"client_id": "late-agent", "secret": "too-short"})  # the last record of the file
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    out = run_cli(tmp_path, "import", str(bad))
    assert out.returncode == 2, out.stdout
    assert "Traceback" not in out.stderr
    assert out.stderr.strip() == ("error: agents.secret: agents[1] 'late-agent': "
                                  "a client secret needs at least 16 characters.")
    after = run_cli(tmp_path, "export", "alpha", "--format", "json")
    assert json.loads(after.stdout) == json.loads(before.stdout)


def test_over_http_a_bad_last_record_changes_nothing(server: Server) -> None:
    from tests.factories import assert_oauth_error
    from tests.http.admin_support import Admin

    import_document(server.services, yaml.safe_load((EXAMPLES / "on-behalf-of.yaml").read_text()))
    admin = Admin(server)
    try:
        before = admin("GET", "/realms/alpha/config").json()
        doc = _changing_everything(server.services)
        doc["users"].append({"username": LONG, "password": "Long-Enough-Passw0rd"})
        r = admin("PUT", "/realms/alpha/config", doc)
        assert_oauth_error(r, 400, "invalid_request", "users.username")
        assert f"users[2] '{LONG[:40]}...': use 1 to 255 characters." in r.json()["error_description"]
        assert admin("GET", "/realms/alpha/config").json() == before
    finally:
        admin.close()
