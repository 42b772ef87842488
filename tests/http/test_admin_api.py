"""The admin API over real HTTP: every endpoint, authentication, CSRF with the session cookie, bad input
that names the field and changes nothing, and every response checked against the OpenAPI document."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from openapi_spec_validator import validate

from credo.domain.clock import FrozenClock
from credo.domain.models import Client
from credo.management.admins import create_admin
from credo.management.export import export_realm
from credo.management.users import create_user
from tests.factories import assert_oauth_error
from tests.http.admin_support import ADMIN, ALL_OPERATIONS, DOC, PASSWORD, Admin, check, console_session, login_csrf
from tests.support import Server

TX = "urn:ietf:params:oauth:grant-type:token-exchange"


@pytest.fixture
def admin(sqlite_server: Server) -> Iterator[Admin]:
    a = Admin(sqlite_server)
    yield a
    a.close()


def test_openapi_document_is_valid_and_served(sqlite_server: Server) -> None:
    validate(DOC)
    with sqlite_server.client() as http:
        served = http.get("/admin/api/openapi.json")
    assert served.status_code == 200 and served.json() == DOC
    assert served.json()["openapi"] == "3.1.0"


def _concrete(template: str) -> str:
    return "/admin/api" + template.replace("{realm}", "root").replace("{client_id}", "x").replace(
        "{application_id}", "y").replace("{user_id}", "u").replace("{name}", "g").replace("{script_id}", "s").replace(
        "{token_id}", "t")


def test_every_operation_requires_an_admin_token(sqlite_server: Server) -> None:
    seen = 0
    with sqlite_server.client() as http:
        for template, ops in DOC["paths"].items():
            for method in ops:
                if template == "/token":
                    continue
                for headers in ({}, {"Authorization": "Bearer not-a-token"}):
                    r = http.request(method.upper(), _concrete(template), json={}, headers=headers)
                    assert_oauth_error(r, 401, "invalid_token")
                    check(r)
                seen += 1
    assert seen >= 35


def test_token_endpoint_refuses_bad_credentials(sqlite_server: Server) -> None:
    Admin(sqlite_server).close()
    with sqlite_server.client() as http:
        r = http.post("/admin/api/token", json={"username": ADMIN, "password": "wrong-password-value"})
        assert_oauth_error(check(r), 400, "invalid_grant")
        r = http.post("/admin/api/token", json={"username": "nobody", "password": PASSWORD})
        assert_oauth_error(check(r), 400, "invalid_grant")
        assert_oauth_error(check(http.post("/admin/api/token", json={"username": ADMIN})), 400, "invalid_request", "password")
        r = http.post("/admin/api/token", content=b"username=x", headers={"content-type": "text/plain"})
        assert_oauth_error(check(r), 415, "invalid_request", "body")
    denied = sqlite_server.services.storage.audit.query("__admin__", action="admin.login", decision="deny")
    assert len(denied) == 2 and all(PASSWORD not in str(e) for e in denied)


def test_admin_token_expires_after_an_hour(frozen: tuple[Server, FrozenClock]) -> None:
    srv, clock = frozen
    admin = Admin(srv)
    assert admin("GET", "/realms").status_code == 200
    clock.advance(3599)
    assert admin("GET", "/realms").status_code == 200
    clock.advance(2)
    assert_oauth_error(admin("GET", "/realms"), 401, "invalid_token")
    admin.close()


def test_session_cookie_needs_the_csrf_header_to_change_anything(sqlite_server: Server) -> None:
    http, csrf = console_session(sqlite_server)
    try:
        assert check(http.get("/admin/api/realms")).status_code == 200
        r = http.post("/admin/api/realms", json={"name": "csrf-test"})
        assert_oauth_error(check(r), 403, "access_denied")
        r = http.post("/admin/api/realms", json={"name": "csrf-test"}, headers={"x-csrf-token": "0" * 64})
        assert_oauth_error(check(r), 403, "access_denied")
        assert sqlite_server.services.storage.realms.get("csrf-test") is None
        r = http.post("/admin/api/realms", json={"name": "csrf-test"}, headers={"x-csrf-token": csrf})
        assert check(r).status_code == 201
        form = http.post("/admin/r/root/keys", data={"csrf": "forged"})
        assert form.status_code == 403
        assert len(sqlite_server.services.storage.keys.all("root")) == 1
    finally:
        http.close()


def test_every_endpoint_on_sqlite_and_postgres(server: Server) -> None:
    admin = Admin(server)
    assert admin("POST", "/realms", {"name": "alpha", "settings": {"grant_types": ["client_credentials", TX]}}
                 ).status_code == 201
    assert {r["name"] for r in admin("GET", "/realms").json()} >= {"root", "alpha"}
    s = admin("PATCH", "/realms/alpha/settings", {"allow_open_registration": True,
                                                 "registration_scope_allowlist": ["openid", "data-read"]}).json()
    assert s["allow_open_registration"] is True and s["grant_types"] == ["client_credentials", TX]
    assert admin("GET", "/realms/alpha/settings").json() == s

    script = admin("POST", "/realms/alpha/scripts", {"name": "DCR", "source": "var x = 1;"}).json()
    assert "id" in script, script
    assert admin("GET", f"/realms/alpha/scripts/{script['id']}").json()["source"] == "var x = 1;"
    assert admin("PATCH", f"/realms/alpha/scripts/{script['id']}", {"description": "d"}).json()["description"] == "d"
    assert [x["id"] for x in admin("GET", "/realms/alpha/scripts").json()] == [script["id"]]
    admin("PATCH", "/realms/alpha/settings", {"dcr_script": script["id"]})
    assert_oauth_error(admin("DELETE", f"/realms/alpha/scripts/{script['id']}"), 400, "invalid_request", "script_id")

    app = admin("POST", "/realms/alpha/applications", {"client_id": "logs-app", "name": "Logs", "app_type": "service",
                                                      "scopes": ["logs-read", "logs-search"], "owners": ["ops"]}).json()
    assert app["client_secret"] and app["kind"] == "application" and "secret_hash" not in app
    assert admin("GET", "/realms/alpha/applications/logs-app").json().get("client_secret") is None
    assert [a["client_id"] for a in admin("GET", "/realms/alpha/applications").json()] == ["logs-app"]
    rotated = admin("POST", "/realms/alpha/applications/logs-app/secret", {}).json()
    assert rotated["client_secret"] and rotated["client_secret"] != app["client_secret"]
    changed = admin("PATCH", "/realms/alpha/applications/logs-app", {"grant_types": ["client_credentials", "password"]})
    assert changed.json()["grant_types"] == ["client_credentials", "password"]

    agent = admin("POST", "/realms/alpha/agents", {"client_id": "bot", "scopes": ["monitor-system"],
                                                  "overrides_enabled": True, "stateless_tokens": True,
                                                  "accept_audience": True}).json()
    assert agent["is_agent"] and agent["stateless_tokens"] and agent["accept_audience"] and agent["client_secret"]
    assert admin("GET", "/realms/alpha/agents/bot").json()["overrides_enabled"] is True
    assert admin("PATCH", "/realms/alpha/agents/bot", {"accept_audience": False}).json()["accept_audience"] is False
    chosen = admin("POST", "/realms/alpha/agents/bot/secret", {"secret": "a-chosen-agent-secret"}).json()
    assert chosen["client_secret"] == "a-chosen-agent-secret"
    stored = server.services.storage.clients.get("alpha", "bot")
    assert stored is not None and server.services.hasher.verify("a-chosen-agent-secret", stored.secret_hash)
    assert_oauth_error(admin("POST", "/realms/alpha/agents/logs-app/secret", {}), 404, "not_found", "client_id")
    user = admin("POST", "/realms/alpha/users", {"username": "barbara.jensen", "password": "a-demo-password"}).json()
    assert admin("GET", f"/realms/alpha/users/{user['id']}").json()["username"] == "barbara.jensen"
    assert [u["username"] for u in admin("GET", "/realms/alpha/users").json()] == ["barbara.jensen"]
    assert admin("PATCH", f"/realms/alpha/users/{user['id']}", {"active": False}).json()["active"] is False
    assert admin("PUT", "/realms/alpha/groups/staff", {"members": [user["id"]]}).json()["members"] == [user["id"]]
    assert [g["name"] for g in admin("GET", "/realms/alpha/groups").json()] == ["staff"]
    policy = admin("PUT", "/realms/alpha/agents/bot/policies/logs-app",
                   {"subjects": [user["id"]], "subject_groups": ["staff"], "permissions": ["logs-read"]}).json()
    assert policy["permissions"] == ["logs-read"]
    assert admin("GET", "/realms/alpha/agents/bot/policies").json() == [policy]

    server.services.storage.clients.create(Client(realm="alpha", client_id="dyn-1", kind="agent", dynamic=True,
                                                  created_at=1_700_000_000))
    server.services.storage.clients.touch("alpha", "dyn-1", 1_700_000_100)
    dyn = admin("GET", "/realms/alpha/dynamic-clients").json()
    assert [(d["client_id"], d["is_agent"], d["created_at"], d["last_used"]) for d in dyn] == [
        ("dyn-1", True, 1_700_000_000, 1_700_000_100)]
    assert "dyn-1" in [a["client_id"] for a in admin("GET", "/realms/alpha/agents").json()]
    assert admin("DELETE", "/realms/alpha/dynamic-clients/dyn-1").status_code == 204
    assert_oauth_error(admin("DELETE", "/realms/alpha/dynamic-clients/logs-app"), 404, "not_found", "client_id")

    keys = admin("GET", "/realms/alpha/keys").json()
    assert len(keys) == 1 and "d" not in keys[0]["public_jwk"]
    assert check(admin.http.post("/admin/api/realms/alpha/keys/rotate", headers=admin.headers)).status_code == 201
    new = admin("POST", "/realms/alpha/keys/rotate", {"alg": "RS256"}).json()
    keys = admin("GET", "/realms/alpha/keys").json()
    assert new["alg"] == "RS256" and [k["active"] for k in keys].count(True) == 1 and len(keys) == 3
    assert all("private" not in str(k).lower() for k in keys)

    exported = admin("GET", "/realms/alpha/config").json()
    assert exported["agents"][0]["policies"][0]["application"] == "logs-app"
    assert "a-chosen-agent-secret" not in str(exported) and exported["agents"][0]["secret_hash"]
    assert set(admin("PUT", "/realms/alpha/config", exported).json().values()) == {0}
    assert admin("GET", "/realms/alpha/config").json() == exported
    assert_oauth_error(admin("PUT", "/realms/alpha/config", {**exported, "realm": "other"}), 400, "invalid_request", "realm")
    counts = admin("PUT", "/realms/alpha/config", {"users": [{"username": "new.user", "password": "pw-0123456"}]})
    assert counts.json()["users"] == 1
    admin("DELETE", f"/realms/alpha/users/{server.services.storage.users.by_username('alpha', 'new.user').id}")
    events = admin("GET", "/realms/alpha/audit", params={"actor": ADMIN, "action": "policy.put"}).json()
    assert [e["target"] for e in events] == ["bot->logs-app"]
    assert admin("GET", "/realms/alpha/audit", params={"text": "logs-app"}).json()

    for path in ("/agents/bot/policies/logs-app", "/agents/bot", "/applications/logs-app", f"/users/{user['id']}",
                 "/groups/staff"):
        assert admin("DELETE", "/realms/alpha" + path).status_code == 204
    admin("PATCH", "/realms/alpha/settings", {"dcr_script": None})
    assert admin("DELETE", f"/realms/alpha/scripts/{script['id']}").status_code == 204
    assert admin("DELETE", "/realms/alpha").status_code == 204
    assert_oauth_error(admin("GET", "/realms/alpha/settings"), 404, "not_found")
    admin("POST", "/realms/root/scripts/test", {"source": "var a = 1;"})

    sa = admin("POST", "/service-accounts", {"name": "ci", "access": "write", "realms": ["alpha"]}).json()
    assert sa["client_secret"] and sa["scopes"] == ["admin:read", "admin:write"]
    assert admin("GET", "/service-accounts/ci").json()["realms"] == ["alpha"]
    assert admin("PATCH", "/service-accounts/ci", {"access": "read"}).json()["scopes"] == ["admin:read"]
    assert admin("POST", "/service-accounts/ci/secret").json()["client_secret"] != sa["client_secret"]
    assert [a["name"] for a in admin("GET", "/service-accounts").json()] == ["ci"]
    create_admin(server.services, "second-admin", PASSWORD)
    other = check(admin.http.post("/admin/api/token", json={"username": "second-admin", "password": PASSWORD})).json()
    [token] = [t for t in admin("GET", "/tokens").json() if t["holder"] == "second-admin"]
    assert token["holder_kind"] == "admin" and other["access_token"] not in str(token)
    assert admin("DELETE", f"/tokens/{token['id']}").status_code == 204
    r = admin.http.get("/admin/api/realms", headers={"Authorization": f"Bearer {other['access_token']}"})
    assert_oauth_error(check(r), 401, "invalid_token")
    assert admin("DELETE", "/service-accounts/ci").status_code == 204
    assert admin.succeeded == ALL_OPERATIONS, ALL_OPERATIONS - admin.succeeded  # every operation answered 2xx
    admin.close()


BAD_INPUTS = [
    ("PATCH", "/realms/alpha/settings", {"access_token_lifetime": 5}, 400, "invalid_request", "access_token_lifetime"),
    ("PATCH", "/realms/alpha/settings", {"no_such_setting": 1}, 400, "invalid_request", "no_such_setting"),
    ("PATCH", "/realms/alpha/settings", {"token_format": "paper"}, 400, "invalid_request", "token_format"),
    ("PATCH", "/realms/alpha/settings", {"protection": {"policy": {"max_clients": -1}}}, 400, "invalid_request",
     "protection.policy.max_clients"),
    ("POST", "/realms", {"name": "Bad Name!"}, 400, "invalid_request", "name"),
    ("POST", "/realms", {"name": "alpha"}, 400, "invalid_request", "name"),
    ("POST", "/realms/alpha/applications", {"client_id": "bad id!"}, 400, "invalid_request", "client_id"),
    ("POST", "/realms/alpha/applications", {"client_id": "app"}, 400, "invalid_request", "client_id"),
    ("POST", "/realms/alpha/applications", {"client_id": "new", "colour": "red"}, 400, "invalid_request", "colour"),
    ("POST", "/realms/alpha/applications", {"client_id": "new", "scopes": "a b"}, 400, "invalid_request", "scopes"),
    ("POST", "/realms/alpha/applications", {"client_id": "new", "secret": "short"}, 400, "invalid_request",
     "client_secret"),
    ("POST", "/realms/alpha/applications", {"client_id": "new", "grant_types": ["implicit"]}, 400,
     "invalid_client_metadata", "grant_types"),
    ("POST", "/realms/alpha/agents", {"name": "no id"}, 400, "invalid_request", "client_id"),
    ("POST", "/realms/alpha/applications", {"client_id": "new", "name": "n" * 256}, 400, "invalid_request", "name"),
    ("POST", "/realms/alpha/agents", {"client_id": "new", "name": "n" * 256}, 400, "invalid_request", "name"),
    ("PATCH", "/realms/alpha/applications/app", {"name": "n" * 256}, 400, "invalid_request", "name"),
    ("PATCH", "/realms/alpha/agents/agent", {"name": "n" * 256}, 400, "invalid_request", "name"),
    ("POST", "/realms/alpha/agents", {"client_id": "new", "stateless_tokens": "yes"}, 400, "invalid_request",
     "stateless_tokens"),
    ("POST", "/realms/alpha/agents", {"client_id": "new", "stateless_tokens": True}, 400, "invalid_request",
     "stateless_tokens"),
    ("PATCH", "/realms/alpha/agents/agent", {"accept_audience": True}, 400, "invalid_request", "accept_audience"),
    ("PUT", "/realms/alpha/agents/agent/policies/nope", {}, 400, "invalid_request", "application_id"),
    ("PUT", "/realms/alpha/agents/agent/policies/app", {"subjects": ["ghost"]}, 400, "invalid_request", "subjects"),
    ("PUT", "/realms/alpha/agents/app/policies/app", {}, 404, "not_found", "client_id"),
    ("POST", "/realms/alpha/users", {"username": "u2", "password": ""}, 400, "invalid_request", "password"),
    ("POST", "/realms/alpha/users", {"username": "u1", "password": "long-enough-pw"}, 400, "invalid_request",
     "username"),
    ("PUT", "/realms/alpha/groups/g", {"members": ["ghost"]}, 400, "invalid_request", "members"),
    ("POST", "/realms/alpha/scripts", {"name": "s"}, 400, "invalid_request", "source"),
    ("GET", "/realms/alpha/audit?limit=0", None, 400, "invalid_request", "limit"),
    ("POST", "/realms/alpha/keys/rotate", {"alg": "HS256"}, 400, "invalid_request", "alg"),
    ("POST", "/realms/alpha/applications/app/secret", {"secret": "short"}, 400, "invalid_request", "client_secret"),
    ("GET", "/realms/nowhere/settings", None, 404, "not_found", None),
    ("PATCH", "/realms/alpha/applications/ghost", {"name": "x"}, 404, "not_found", "client_id"),
]


def test_bad_input_names_the_field_and_changes_nothing(admin: Admin, sqlite_server: Server) -> None:
    admin("POST", "/realms", {"name": "alpha"})
    admin("POST", "/realms/alpha/applications", {"client_id": "app"})
    admin("POST", "/realms/alpha/agents", {"client_id": "agent"})
    admin("POST", "/realms/alpha/users", {"username": "u1", "password": "long-enough-pw"})
    before = export_realm(sqlite_server.services, "alpha")
    keys_before = len(sqlite_server.services.storage.keys.all("alpha"))
    for method, path, body, status, error, field in BAD_INPUTS:
        r = admin(method, path, body)
        assert_oauth_error(r, status, error, field)
        assert "Traceback" not in r.text
    assert export_realm(sqlite_server.services, "alpha") == before
    assert len(sqlite_server.services.storage.keys.all("alpha")) == keys_before
    with sqlite_server.client() as http:
        r = http.patch("/admin/api/realms/alpha/settings", content=b"{not json", headers={
            **admin.headers, "content-type": "application/json"})
        assert_oauth_error(check(r), 400, "invalid_request", "body")
        r = http.patch("/admin/api/realms/alpha/settings", content=b"[1]", headers={
            **admin.headers, "content-type": "application/json"})
        assert_oauth_error(check(r), 400, "invalid_request", "body")


def test_every_change_is_audited_with_who_and_what(admin: Admin, sqlite_server: Server) -> None:
    admin("POST", "/realms", {"name": "alpha"})
    admin("PATCH", "/realms/alpha/settings", {"allow_open_registration": True})
    admin("POST", "/realms/alpha/applications", {"client_id": "app"})
    events = admin("GET", "/realms/alpha/audit", params={"actor": ADMIN}).json()
    assert [e["action"] for e in events][:3] == ["application.create", "settings.update", "realm.create"]
    assert events[1]["details"] == {"changed": ["allow_open_registration"]}
    assert all(e["ts"] > 0 for e in events)
    assert admin("GET", "/realms/alpha/audit", params={"decision": "deny"}).json() == []
    assert admin("GET", "/realms/alpha/audit", params={"target": "app"}).json()[0]["action"] == "application.create"


def test_the_schema_check_catches_a_wrong_response() -> None:
    import httpx
    from jsonschema import ValidationError

    request = httpx.Request("GET", "http://x/admin/api/realms/root/applications/a")
    wrong = httpx.Response(200, json={"client_id": 5}, request=request)
    with pytest.raises(ValidationError):
        check(wrong)
    undocumented = httpx.Response(418, json={}, request=request)
    with pytest.raises(AssertionError):
        check(undocumented)


def test_script_test_run_shows_the_resulting_attributes(admin: Admin) -> None:
    source = ('if (operation === "CREATE" && clientIdentity.isAIAgent()) {'
              ' clientIdentity.setAttribute("statelessTokensEnabled", ["true"]); clientIdentity.store(); }')
    out = admin("POST", "/realms/root/scripts/test", {"source": source, "attributes": {"AgentType": ["x"]}}).json()
    assert out["ok"] is True and out["stored"] is True, out
    assert out["attributes"]["statelessTokensEnabled"] == ["true"]
    broken = admin("POST", "/realms/root/scripts/test", {"source": "throw new Error('boom')"}).json()
    assert broken["ok"] is False and broken["error"] == "exception" and "boom" in broken["message"]
    assert admin("GET", "/realms/root/scripts").json() == []  # a test run registers nothing


def test_admin_sign_in_is_throttled_after_repeated_failures(sqlite_server: Server) -> None:
    Admin(sqlite_server).close()
    limit = sqlite_server.services.auth_throttle.limit
    with sqlite_server.client() as http:
        for _ in range(limit):
            r = http.post("/admin/api/token", json={"username": ADMIN, "password": "wrong-password-value"})
            assert_oauth_error(check(r), 400, "invalid_grant")
        r = http.post("/admin/api/token", json={"username": ADMIN, "password": PASSWORD})
        assert_oauth_error(check(r), 429, "too_many_requests")
        assert int(r.headers["retry-after"]) >= 1
        page = http.post("/admin/login", data={"username": ADMIN, "password": PASSWORD, "csrf": login_csrf(http)})
        assert page.status_code == 429 and "Too many failed attempts" in page.text


def test_console_login_never_redirects_off_site(sqlite_server: Server) -> None:
    Admin(sqlite_server).close()
    with sqlite_server.client() as http:
        for target in ("https://evil.example/", "//evil.example/admin/", "/admin/r/root/keys"):
            r = http.post("/admin/login", data={"username": ADMIN, "password": PASSWORD, "next": target,
                                                "csrf": login_csrf(http)})
            assert r.status_code == 303
            expected = target if target == "/admin/r/root/keys" else "/admin/"
            assert r.headers["location"] == expected
        wrong = http.post("/admin/login", data={"username": ADMIN, "password": "nope-nope-nope",
                                                "csrf": login_csrf(http)})
        assert wrong.status_code == 401 and "credo_admin=" not in wrong.headers.get("set-cookie", "")
        http.cookies.clear()
        forged = http.post("/admin/login", data={"username": ADMIN, "password": PASSWORD, "csrf": "guess"})
        assert forged.status_code == 403 and "credo_admin=" not in forged.headers.get("set-cookie", "")


WRONG_VALUES: list[Any] = [12345, {"nested": True}, ["x", 1], None, True, "", "x" * 5000, "\x00"]


def test_wrong_types_in_any_body_field_never_cause_a_server_error(admin: Admin) -> None:
    admin("POST", "/realms", {"name": "alpha"})
    admin("POST", "/realms/alpha/applications", {"client_id": "x"})
    admin("POST", "/realms/alpha/agents", {"client_id": "ag"})
    tried = 0
    for template, ops in DOC["paths"].items():
        for method, op in ops.items():
            ref = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
            if "$ref" not in ref or template == "/token":
                continue
            schema = DOC["components"]["schemas"][ref["$ref"].rsplit("/", 1)[1]]
            path = template.replace("{realm}", "alpha").replace("{client_id}", "ag" if "agents" in template else "x")
            path = path.replace("{application_id}", "x").replace("{user_id}", "u").replace("{name}", "g")
            path = path.replace("{script_id}", "s")
            for prop in schema.get("properties", {}):
                for value in WRONG_VALUES:
                    r = admin(method.upper(), path, {prop: value})
                    assert r.status_code < 500, (method, path, prop, value, r.text)
                    tried += 1
    assert tried > 300


def test_console_pages_refuse_cleanly(sqlite_server: Server) -> None:
    http, csrf = console_session(sqlite_server)
    try:
        missing = http.get("/admin/r/nowhere/settings")
        assert missing.status_code == 404 and "does not exist" in missing.text and "Traceback" not in missing.text
        root = http.post("/admin/realms/root/delete", data={"csrf": csrf})
        assert root.status_code == 400 and "cannot be deleted" in root.text
        assert sqlite_server.services.storage.realms.get("root") is not None
        no_csrf = http.post("/admin/realms", data={"name": "sneaky"})
        assert no_csrf.status_code == 403 and sqlite_server.services.storage.realms.get("sneaky") is None
        assert http.get("/admin/r/root/applications/ghost").status_code == 404
        signed_out = sqlite_server.client()
        r = signed_out.get("/admin/r/root/settings")
        assert r.status_code == 303 and r.headers["location"].startswith("/admin/login")
        signed_out.close()
    finally:
        http.close()


CONSOLE_FORMS = ["/admin/realms", "/admin/account", "/admin/r/root/settings", "/admin/r/root/scripts/new",
                 "/admin/r/root/applications/new", "/admin/r/root/agents/new", "/admin/r/root/users",
                 "/admin/r/root/applications/app", "/admin/r/root/agents/agent", "/admin/r/root/keys",
                 "/admin/r/root/users/user-1", "/admin/r/root/initial-access", "/admin/service-accounts",
                 "/admin/service-accounts/nobody/enabled", "/admin/service-accounts/nobody/secret"]
GARBAGE = ["", "x" * 3000, "\x00", "-1", "1e309", "<b>", "ünïcødé", "{\"keys\": 1}", "a b c"]


def test_console_forms_never_fail_with_a_server_error(sqlite_server: Server) -> None:
    http, csrf = console_session(sqlite_server)
    admin = Admin(sqlite_server)
    admin("POST", "/realms/root/applications", {"client_id": "app"})
    admin("POST", "/realms/root/agents", {"client_id": "agent"})
    admin.close()
    create_user(sqlite_server.services, "root", "someone", "someone-password", user_id="user-1")
    fields = ["name", "client_id", "secret", "scopes", "owners", "app_type", "grant_types", "auth_method", "username",
              "password", "group_name", "members", "form", "tab", "advanced", "application_id", "subjects",
              "permissions", "access_token_lifetime", "token_format", "dcr_script", "policy_max_clients", "ss_jwks",
              "ss_jwks_uri", "current_password", "new_password", "repeat_password", "description", "source",
              "email", "active", "redirect_uris", "post_logout_redirect_uris", "resources", "application_type",
              "skip_consent", "session_lifetime", "scope_descriptions", "refresh_requires_offline_access",
              "lifetime", "note", "access", "realms", "enabled"]
    try:
        for url in CONSOLE_FORMS:
            for value in GARBAGE:
                r = http.post(url, data={"csrf": csrf, **{f: value for f in fields}})
                assert r.status_code < 500 and r.status_code != 403, (url, value, r.text[:300])
                assert "Traceback" not in r.text
    finally:
        http.close()


def test_overrides_without_their_switch_are_warned_of(admin: Admin) -> None:
    admin("POST", "/realms", {"name": "alpha"})
    created = admin("POST", "/realms/alpha/agents", {"client_id": "bot", "overrides_enabled": True,
                                                     "stateless_tokens": True})
    assert created.status_code == 201 and created.json()["warnings"] == []
    off = admin("PATCH", "/realms/alpha/agents/bot", {"overrides_enabled": False}).json()
    assert off["stateless_tokens"] is False and off["attributes"]["statelessTokensEnabled"] == ["true"]
    warning = ("Use Client-Side Access & Refresh Tokens (statelessTokensEnabled) is set but does nothing: Enable "
               "OAuth2 Provider Overrides (providerOverridesEnabled) is off.")
    assert off["warnings"] == [warning] and admin("GET", "/realms/alpha/agents/bot").json()["warnings"] == [warning]
    # An import keeps what the document says (an export of this realm imports back unchanged), and warns.
    doc = {"agents": [{"client_id": "imported", "attributes": {
        "acceptAudienceParametersInTokenExchangeRequests": ["true"], "accessTokenLifetime": ["600"]}}]}
    imported = admin("PUT", "/realms/alpha/config", doc).json()
    assert imported["agents"] > 0 and imported["warnings"] == [
        "agents[0] 'imported': Accept audience parameters in token exchange requests "
        "(acceptAudienceParametersInTokenExchangeRequests) is set but does nothing: Enable OAuth2 Provider "
        "Overrides (providerOverridesEnabled) is off.",
        "agents[0] 'imported': Access token lifetime (accessTokenLifetime) is set but does nothing: Enable OAuth2 "
        "Provider Overrides (providerOverridesEnabled) is off."]
    exported = admin("GET", "/realms/alpha/config").json()
    again = admin("PUT", "/realms/alpha/config", exported).json()
    assert {k: v for k, v in again.items() if k != "warnings"} == dict.fromkeys(again.keys() - {"warnings"}, 0)
    assert len(again["warnings"]) == 3  # bot's flag and imported's two
    doc["agents"][0]["attributes"]["providerOverridesEnabled"] = ["true"]
    assert "warnings" not in admin("PUT", "/realms/alpha/config", doc).json()


def test_a_client_name_is_checked_alike_on_create_and_update(admin: Admin) -> None:
    admin("POST", "/realms", {"name": "alpha"})
    for kind in ("applications", "agents"):
        created = admin("POST", f"/realms/alpha/{kind}", {"client_id": f"long-{kind}", "name": "n" * 256})
        assert created.status_code == 400, created.text
        assert created.json() == {"error": "invalid_request", "field": "name",
                                  "error_description": "name: must be a string of at most 255 characters."}
        ok = admin("POST", f"/realms/alpha/{kind}", {"client_id": f"ok-{kind}", "name": "n" * 255})
        assert ok.status_code == 201 and ok.json()["name"] == "n" * 255, ok.text
        updated = admin("PATCH", f"/realms/alpha/{kind}/ok-{kind}", {"name": "n" * 256})
        assert (updated.status_code, updated.json()) == (created.status_code, created.json())
        assert admin("GET", f"/realms/alpha/{kind}/long-{kind}").status_code == 404


def test_strict_auth_method_pins_and_unpins_through_the_api_and_import(admin: Admin, sqlite_server: Server,
                                                                      sqlite_demo: dict[str, str]) -> None:
    """An application or agent with a secret accepts it in a Basic header and in the body; the admin API's
    `strict_auth_method` (and an import document's `strictAuthMethod` attribute) pins the registered one."""
    base = sqlite_server.realm_url("alpha")

    def basic(client_id: str, secret: str) -> int:
        with sqlite_server.client() as http:
            return http.post(f"{base}/access_token", data={"grant_type": "client_credentials"},
                             auth=(client_id, secret)).status_code

    app = admin("POST", "/realms/alpha/applications", {"client_id": "pinned-app", "strict_auth_method": True}).json()
    assert app["auth_method"] == "client_secret_post" and app["strict_auth_method"] is True
    assert basic("pinned-app", app["client_secret"]) == 401
    assert admin("PATCH", "/realms/alpha/applications/pinned-app", {"strict_auth_method": False}
                 ).json()["strict_auth_method"] is False
    assert basic("pinned-app", app["client_secret"]) == 200

    agent = admin("POST", "/realms/alpha/agents", {"client_id": "free-agent", "overrides_enabled": True}).json()
    assert agent["strict_auth_method"] is False and basic("free-agent", agent["client_secret"]) == 200
    pinned = admin("PATCH", "/realms/alpha/agents/free-agent", {"strict_auth_method": True}).json()
    assert pinned["strict_auth_method"] is True and pinned["overrides_enabled"] is True
    assert basic("free-agent", agent["client_secret"]) == 401
    assert_oauth_error(admin("PATCH", "/realms/alpha/agents/free-agent", {"strict_auth_method": "yes"}),
                       400, "invalid_request", "strict_auth_method")

    doc = {"realm": "alpha", "applications": [{"client_id": "imported-app", "secret": "imported-app-secret-0123",
                                               "attributes": {"strictAuthMethod": ["true"]}}]}
    assert admin("PUT", "/realms/alpha/config", doc).status_code == 200
    assert basic("imported-app", "imported-app-secret-0123") == 401
    stored = sqlite_server.services.storage.clients.get("alpha", "imported-app")
    assert stored is not None and stored.strict_auth_method
