"""The admin API and the console on what browser sign-in added: users' name and email, applications' redirect
URIs, post-logout redirect URIs, resource identifiers, client type and skip_consent, the realm's sign-in
settings (PATCH is a JSON merge patch), and a settings page that, saved unchanged, changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from credo.domain.models import Realm
from credo.domain.settings import KNOWN_GRANT_TYPES
from credo.management.export import export_realm
from credo.storage.protocols import Storage
from tests.factories import assert_oauth_error, realm_settings
from tests.http.admin_support import Admin, console_session, form_fields
from tests.http.admin_support import submit as _submit
from tests.support import SIGNIN_FIELDS_MISSING, InProcessServer, in_process_server, keeps_signin_fields

MCP = "https://mcp.example.com/mcp"
SIGNIN = {"redirect_uris": ["https://app.example.com/callback", "http://127.0.0.1:8765/cb"],
          "post_logout_redirect_uris": ["https://app.example.com/bye"], "resources": [MCP, "http://localhost:3000/mcp"],
          "application_type": "web", "skip_consent": True}


@pytest.fixture
def signin_server(any_storage: Storage, tmp_path: Path) -> Iterator[InProcessServer]:
    """Credo in process on every backend that keeps the sign-in fields (memory always)."""
    if not keeps_signin_fields(any_storage):
        pytest.skip(SIGNIN_FIELDS_MISSING)
    with in_process_server(any_storage, tmp_path) as srv:
        yield srv


@pytest.fixture
def admin(signin_server: InProcessServer) -> Iterator[Admin]:
    a = Admin(signin_server)
    assert a("POST", "/realms", {"name": "alpha"}).status_code == 201
    yield a
    a.close()


def _signin(client: dict[str, Any]) -> dict[str, Any]:
    return {k: client[k] for k in SIGNIN}


def test_user_name_and_email_round_trip(admin: Admin) -> None:
    user = admin("POST", "/realms/alpha/users", {"username": "ada", "password": "ada-password-1",
                                                 "name": "Ada Lovelace", "email": "ada@example.com"}).json()
    assert (user["name"], user["email"]) == ("Ada Lovelace", "ada@example.com")
    assert admin("GET", f"/realms/alpha/users/{user['id']}").json() == user
    changed = admin("PATCH", f"/realms/alpha/users/{user['id']}", {"email": "ada@lovelace.example"}).json()
    assert (changed["name"], changed["email"]) == ("Ada Lovelace", "ada@lovelace.example")
    cleared = admin("PATCH", f"/realms/alpha/users/{user['id']}", {"name": ""}).json()
    assert (cleared["name"], cleared["email"]) == ("", "ada@lovelace.example")
    assert [u["email"] for u in admin("GET", "/realms/alpha/users").json()] == ["ada@lovelace.example"]


@pytest.mark.parametrize("body, field", [
    ({"email": "no-at-sign"}, "email"),
    ({"email": "two@@example.com"}, "email"),
    ({"email": "a@b@example.com"}, "email"),
    ({"email": "@example.com"}, "email"),
    ({"email": "ada@"}, "email"),
    ({"email": "ada lovelace@example.com"}, "email"),
    ({"email": "a" * 250 + "@example.com"}, "email"),
    ({"email": 5}, "email"),
    ({"name": "n" * 256}, "name"),
    ({"name": "line\nbreak"}, "name"),
])
def test_bad_user_profile_is_refused_on_create_and_update(admin: Admin, signin_server: InProcessServer,
                                                          body: dict[str, Any], field: str) -> None:
    assert_oauth_error(admin("POST", "/realms/alpha/users", {"username": "u", "password": "u-password-1", **body}),
                       400, "invalid_request", field)
    assert signin_server.services.storage.users.by_username("alpha", "u") is None
    user = admin("POST", "/realms/alpha/users", {"username": "u", "password": "u-password-1"}).json()
    assert_oauth_error(admin("PATCH", f"/realms/alpha/users/{user['id']}", body), 400, "invalid_request", field)
    assert admin("GET", f"/realms/alpha/users/{user['id']}").json() == user


def test_application_signin_fields_round_trip(admin: Admin) -> None:
    created = admin("POST", "/realms/alpha/applications", {"client_id": "web-app", **SIGNIN,
                                                           "grant_types": ["authorization_code", "refresh_token"]})
    assert _signin(created.json()) == SIGNIN
    assert _signin(admin("GET", "/realms/alpha/applications/web-app").json()) == SIGNIN
    native = {"application_type": "native", "redirect_uris": ["com.example.app:/oauth2/cb", "http://[::1]/cb"],
              "post_logout_redirect_uris": ["com.example.app:/bye"], "skip_consent": False}
    changed = admin("PATCH", "/realms/alpha/applications/web-app", native).json()
    assert _signin(changed) == {**SIGNIN, **native}
    assert _signin(admin("GET", "/realms/alpha/applications/web-app").json()) == {**SIGNIN, **native}
    moved = admin("PATCH", "/realms/alpha/applications/web-app", {"resources": []}).json()
    assert moved["resources"] == []
    other = admin("POST", "/realms/alpha/applications", {"client_id": "mcp-server", "resources": [MCP]}).json()
    assert other["resources"] == [MCP] and other["application_type"] == "web" and other["skip_consent"] is False


BAD_APPLICATIONS = [
    ({"redirect_uris": ["http://app.example.com/cb"]}, "redirect_uris"),  # http off loopback
    ({"redirect_uris": ["https://app.example.com/cb#frag"]}, "redirect_uris"),
    ({"redirect_uris": ["/relative/cb"]}, "redirect_uris"),
    ({"redirect_uris": ["https://user:pw@app.example.com/cb"]}, "redirect_uris"),
    ({"redirect_uris": ["com.example.app:/cb"]}, "redirect_uris"),  # a private-use scheme: native only
    ({"redirect_uris": ["https://[::1/cb"]}, "redirect_uris"),
    ({"redirect_uris": "https://app.example.com/cb"}, "redirect_uris"),
    ({"post_logout_redirect_uris": ["javascript:alert(1)"]}, "post_logout_redirect_uris"),
    ({"resources": ["http://mcp.example.com/mcp"]}, "resources"),
    ({"resources": ["https://mcp.example.com/mcp#x"]}, "resources"),
    ({"resources": ["urn:example:resource"]}, "resources"),
    ({"resources": ["com.example.app:/x"], "application_type": "native"}, "resources"),
    ({"resources": ["https://mcp.example.com/" + "a" * 2048]}, "resources"),
    ({"resources": [f"https://mcp.example.com/{i}" for i in range(101)]}, "resources"),
    ({"application_type": "desktop"}, "application_type"),
    ({"skip_consent": "yes"}, "skip_consent"),
]


@pytest.mark.parametrize("body, field", BAD_APPLICATIONS)
def test_bad_signin_fields_are_refused_on_create_and_update(admin: Admin, signin_server: InProcessServer,
                                                            body: dict[str, Any], field: str) -> None:
    assert_oauth_error(admin("POST", "/realms/alpha/applications", {"client_id": "new-app", **body}),
                       400, "invalid_request", field)
    assert signin_server.services.storage.clients.get("alpha", "new-app") is None
    admin("POST", "/realms/alpha/applications", {"client_id": "app", **SIGNIN})
    before = export_realm(signin_server.services, "alpha")
    assert_oauth_error(admin("PATCH", "/realms/alpha/applications/app", body), 400, "invalid_request", field)
    assert export_realm(signin_server.services, "alpha") == before


def test_a_resource_identifier_belongs_to_one_client(admin: Admin, signin_server: InProcessServer) -> None:
    admin("POST", "/realms/alpha/applications", {"client_id": "first", "resources": [MCP]})
    taken = (f"resources: '{MCP}' is already a resource identifier of client 'first' (a resource identifier "
             "belongs to one client of a realm).")
    r = admin("POST", "/realms/alpha/applications", {"client_id": "second", "resources": [MCP]})
    assert_oauth_error(r, 400, "invalid_request", "resources")
    assert r.json()["error_description"] == taken
    assert signin_server.services.storage.clients.get("alpha", "second") is None
    admin("POST", "/realms/alpha/applications", {"client_id": "second"})
    r = admin("PATCH", "/realms/alpha/applications/second", {"resources": ["https://other.example/", MCP]})
    assert_oauth_error(r, 400, "invalid_request", "resources")
    assert admin("GET", "/realms/alpha/applications/second").json()["resources"] == []
    assert admin("PATCH", "/realms/alpha/applications/first", {"resources": [MCP]}).status_code == 200  # its own
    admin("POST", "/realms", {"name": "beta"})
    assert admin("POST", "/realms/beta/applications", {"client_id": "beta-app", "resources": [MCP]}).status_code == 201


def test_a_native_client_type_change_rechecks_the_redirect_uris(admin: Admin) -> None:
    admin("POST", "/realms/alpha/applications", {"client_id": "phone", "application_type": "native",
                                                 "redirect_uris": ["com.example.phone:/cb"]})
    r = admin("PATCH", "/realms/alpha/applications/phone", {"application_type": "web"})
    assert_oauth_error(r, 400, "invalid_request", "redirect_uris")
    assert admin("GET", "/realms/alpha/applications/phone").json()["application_type"] == "native"


SIGNIN_SETTINGS = {"session_lifetime": 7200, "pkce_optional_for_confidential_clients": True,
                   "skip_consent_for_applications": True, "refresh_requires_offline_access": True,
                   "scope_descriptions": {"openid": "Sign you in", "mcp:tools": "Use the MCP tools"}}


def test_settings_patch_changes_only_the_members_given(admin: Admin) -> None:
    admin("PATCH", "/realms/alpha/settings", {"protection": {"policy": {"max_clients": 5}}})
    s = admin("PATCH", "/realms/alpha/settings", SIGNIN_SETTINGS).json()
    assert {k: s[k] for k in SIGNIN_SETTINGS} == SIGNIN_SETTINGS
    s = admin("PATCH", "/realms/alpha/settings", {"scope_descriptions": {"openid": "  Sign in  ", "email": "Your email"},
                                                  "protection": {"require_signed_request": True}}).json()
    assert s["scope_descriptions"] == {"openid": "Sign in", "mcp:tools": "Use the MCP tools", "email": "Your email"}
    assert s["protection"]["require_signed_request"] and s["protection"]["policy"]["max_clients"] == 5
    s = admin("PATCH", "/realms/alpha/settings", {"scope_descriptions": {"mcp:tools": None},
                                                  "session_lifetime": None}).json()
    assert s["scope_descriptions"] == {"openid": "Sign in", "email": "Your email"} and s["session_lifetime"] == 8 * 3600
    assert s["refresh_requires_offline_access"] is True and s["protection"]["policy"]["max_clients"] == 5
    assert admin("GET", "/realms/alpha/settings").json() == s


@pytest.mark.parametrize("patch, field", [
    ({"session_lifetime": 30}, "session_lifetime"),
    ({"session_lifetime": 86400 * 31}, "session_lifetime"),
    ({"refresh_requires_offline_access": "sometimes"}, "refresh_requires_offline_access"),
    ({"scope_descriptions": {"bad scope": "x"}}, "scope_descriptions"),
    ({"scope_descriptions": {"openid": ""}}, "scope_descriptions.openid"),
    ({"scope_descriptions": {"openid": "two\nlines"}}, "scope_descriptions.openid"),
    ({"scope_descriptions": {"openid": "x" * 501}}, "scope_descriptions.openid"),
    ({"scope_descriptions": {"openid": 5}}, "scope_descriptions.openid"),
    ({"scope_descriptions": ["openid"]}, "scope_descriptions"),
    ({"scope_descriptions": {f"s{i}": "x" for i in range(201)}}, "scope_descriptions"),
    ({"no_such_setting": None}, "no_such_setting"),
])
def test_bad_settings_patch_names_the_field(admin: Admin, signin_server: InProcessServer, patch: dict[str, Any],
                                            field: str) -> None:
    before = signin_server.services.realm("alpha").settings
    assert_oauth_error(admin("PATCH", "/realms/alpha/settings", patch), 400, "invalid_request", field)
    assert signin_server.services.realm("alpha").settings == before


# --- the console (in process, as a browser submits its forms) ------------------------------------------


@pytest.fixture
def console(admin: Admin, signin_server: InProcessServer) -> Iterator[tuple[Any, str]]:
    http, csrf = console_session(signin_server)
    yield http, csrf
    http.close()


def test_console_settings_saved_unchanged_change_nothing(console: tuple[Any, str], signin_server: InProcessServer) -> None:
    http, _ = console
    realm_settings(signin_server.services, "alpha", grant_types=["implicit", *reversed(KNOWN_GRANT_TYPES)],
                   registration_scope_allowlist=["openid", "mcp:tools"], allow_open_registration=True,
                   token_format="stateless", max_delegation_depth=5, issuer="https://issuer.example",
                   protection={"require_software_statement": True,
                               "software_statement_keys": {"jwks_uri": "https://keys.example/jwks",
                                                           "issuers": ["https://iss.example"]},
                               "policy": {"max_clients": 7, "allowed_redirect_hosts": ["app.example"]}},
                   issue_refresh_tokens=False, exchange_null_refresh_token=True, **SIGNIN_SETTINGS)
    before = signin_server.services.realm("alpha").settings
    page = http.get("/admin/r/alpha/settings?tab=all").text
    shown = form_fields(page, "settings-form")
    assert set(shown["grant_types"]) == {*KNOWN_GRANT_TYPES, "implicit"}  # every grant shown, all checked
    assert 'value="authorization_code"' in page and "Authorization Code" in page
    saved = _submit(http, "/admin/r/alpha/settings?tab=all", "settings-form")
    assert saved.status_code == 303, saved.text
    assert signin_server.services.realm("alpha").settings == before
    assert signin_server.services.storage.audit.query("alpha", action="settings.update", actor="root-admin") == []
    realm_settings(signin_server.services, "alpha", grant_types=["client_credentials"], scope_descriptions={})
    assert _submit(http, "/admin/r/alpha/settings?tab=all", "settings-form").status_code == 303
    after = signin_server.services.realm("alpha").settings
    assert after.grant_types == ("client_credentials",) and after.scope_descriptions == {}
    legacy = after.model_copy(update={"grant_types": ("client_credentials", "urn:example:legacy-grant")})
    signin_server.services.storage.realms.put(Realm(name="alpha", settings=legacy))  # stored before a rule came
    assert 'value="urn:example:legacy-grant" checked' in http.get("/admin/r/alpha/settings?tab=all").text
    assert _submit(http, "/admin/r/alpha/settings?tab=all", "settings-form").status_code == 303
    assert signin_server.services.realm("alpha").settings == legacy


def test_console_edits_the_refresh_token_settings(console: tuple[Any, str], signin_server: InProcessServer) -> None:
    http, _ = console
    shown = form_fields(http.get("/admin/r/alpha/settings?tab=all").text, "settings-form")
    assert "issue_refresh_tokens" in shown and "exchange_null_refresh_token" not in shown  # the defaults
    r = _submit(http, "/admin/r/alpha/settings?tab=all", "settings-form", issue_refresh_tokens=[],
                exchange_null_refresh_token="on")
    assert r.status_code == 303, r.text
    s = signin_server.services.realm("alpha").settings
    assert s.issue_refresh_tokens is False and s.exchange_null_refresh_token is True


def test_console_edits_the_signin_settings(console: tuple[Any, str], signin_server: InProcessServer) -> None:
    http, _ = console
    r = _submit(http, "/admin/r/alpha/settings?tab=all", "settings-form", session_lifetime="600",
                pkce_optional_for_confidential_clients="on", refresh_requires_offline_access="on",
                skip_consent_for_applications="on", grant_types=["client_credentials", "authorization_code"],
                scope_descriptions="openid   Sign you in\r\n\r\nmcp:tools Use the tools: all of them\r\n")
    assert r.status_code == 303, r.text
    s = signin_server.services.realm("alpha").settings
    assert s.session_lifetime == 600 and s.grant_types == ("client_credentials", "authorization_code")
    assert s.pkce_optional_for_confidential_clients and s.refresh_requires_offline_access
    assert s.skip_consent_for_applications
    assert s.scope_descriptions == {"openid": "Sign you in", "mcp:tools": "Use the tools: all of them"}
    for field, value, message in (("session_lifetime", "59", "must be at least 60"),
                                  ("scope_descriptions", "openid", "line 1: write the scope"),
                                  ("scope_descriptions", "bad\x7fscope text", "is not a valid scope")):
        r = _submit(http, "/admin/r/alpha/settings?tab=all", "settings-form", **{field: value})
        assert r.status_code == 400 and message in r.text and 'id="err-' + field + '"' in r.text, r.text
        assert signin_server.services.realm("alpha").settings == s


def test_console_application_signin_fields(console: tuple[Any, str], signin_server: InProcessServer) -> None:
    http, _ = console
    r = _submit(http, "/admin/r/alpha/applications/new", "app-form", client_id="spa", auth_method="none",
                grant_types=["authorization_code", "refresh_token"], application_type="web",
                redirect_uris="https://spa.example/cb\nhttp://localhost:5173/cb", resources=MCP,
                post_logout_redirect_uris="https://spa.example/", skip_consent="on")
    assert r.status_code == 200 and "spa created" in r.text, r.text
    app = signin_server.services.storage.clients.get("alpha", "spa")
    assert app is not None and app.auth_method == "none" and app.secret_hash is None
    assert app.redirect_uris == ("https://spa.example/cb", "http://localhost:5173/cb") and app.resources == (MCP,)
    assert app.post_logout_redirect_uris == ("https://spa.example/",) and app.skip_consent
    edit = "/admin/r/alpha/applications/spa?tab=signon"
    assert _submit(http, edit, "signon-form").status_code == 303
    saved = signin_server.services.storage.clients.get("alpha", "spa")
    assert saved is not None and saved == replace(app, updated_at=saved.updated_at, version=saved.version)  # same
    r = _submit(http, edit, "signon-form", application_type="native", skip_consent=[],
                redirect_uris="com.example.spa:/cb", post_logout_redirect_uris="")
    assert r.status_code == 303, r.text
    app = signin_server.services.storage.clients.get("alpha", "spa")  # type: ignore[assignment]
    assert app is not None and (app.application_type, app.redirect_uris, app.skip_consent) == (
        "native", ("com.example.spa:/cb",), False) and app.post_logout_redirect_uris == ()
    r = _submit(http, edit, "signon-form", redirect_uris="http://spa.example/cb")
    assert r.status_code == 400 and 'id="err-redirect_uris"' in r.text and "http://spa.example/cb" in r.text
    r = _submit(http, "/admin/r/alpha/applications/spa", "details-form", resources="https://a.example/\nhttps://b.example/")
    assert r.status_code == 303, r.text
    assert signin_server.services.storage.clients.get("alpha", "spa").resources == (  # type: ignore[union-attr]
        "https://a.example/", "https://b.example/")
    r = _submit(http, "/admin/r/alpha/applications/new", "app-form", client_id="other", auth_method="none")
    assert r.status_code == 400 and 'id="err-auth_method"' in r.text and "cannot use the client_credentials" in r.text
    r = _submit(http, "/admin/r/alpha/applications/new", "app-form", client_id="other", resources="https://a.example/")
    assert r.status_code == 400 and "already a resource identifier of client" in r.text
    assert signin_server.services.storage.clients.get("alpha", "other") is None


def test_console_users_name_and_email(console: tuple[Any, str], signin_server: InProcessServer) -> None:
    http, _ = console
    r = _submit(http, "/admin/r/alpha/users", "user-form", username="ada", password="ada-password-1",
                name="Ada Lovelace", email="ada@example.com")
    assert r.status_code == 303, r.text
    user = signin_server.services.storage.users.by_username("alpha", "ada")
    assert user is not None and (user.name, user.email) == ("Ada Lovelace", "ada@example.com")
    listed = http.get("/admin/r/alpha/users").text
    assert "Ada Lovelace" in listed and "ada@example.com" in listed and f"/admin/r/alpha/users/{user.id}" in listed
    path = f"/admin/r/alpha/users/{user.id}"
    assert _submit(http, path, "user-edit-form").status_code == 303
    assert signin_server.services.storage.users.get("alpha", user.id) == user
    r = _submit(http, path, "user-edit-form", email="not-an-address")
    assert r.status_code == 400 and 'id="err-email"' in r.text and 'value="not-an-address"' in r.text
    assert _submit(http, path, "user-edit-form", name="Ada King", email="").status_code == 303
    changed = signin_server.services.storage.users.get("alpha", user.id)
    assert changed is not None and (changed.name, changed.email, changed.active) == ("Ada King", "", True)
    assert _submit(http, path, "user-edit-form", active=[]).status_code == 303
    assert signin_server.services.storage.users.get("alpha", user.id) == replace(changed, active=False)
    r = _submit(http, "/admin/r/alpha/users", "user-form", username="bob", password="bob-password-1", email="bob@")
    assert r.status_code == 400 and 'id="err-email"' in r.text
    assert signin_server.services.storage.users.by_username("alpha", "bob") is None
