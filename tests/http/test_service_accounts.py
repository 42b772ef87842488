"""Service accounts: automation reaches the admin API without an administrator's password. A script holding
only a service account's client credentials provisions a realm end to end; a read-only account is refused
every change; every admin API route passes the one access check (walked route by route); admin API tokens
are listed and revoked; every change is audited under the account's name."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from starlette.routing import Route

from credo.admin.api import admin_api_routes
from credo.domain.clock import FrozenClock
from credo.domain.errors import InvalidRequest, InvalidToken
from credo.domain.models import AdminUser
from credo.management.admins import authenticate
from credo.management.service_accounts import create_service_account
from tests.factories import assert_oauth_error
from tests.http.admin_support import Admin, check
from tests.support import Server

TX = "urn:ietf:params:oauth:grant-type:token-exchange"


@pytest.fixture
def admin(sqlite_server: Server) -> Iterator[Admin]:
    a = Admin(sqlite_server)
    for name in ("alpha", "bravo"):
        if sqlite_server.services.storage.realms.get(name) is None:
            assert a("POST", "/realms", {"name": name}).status_code == 201
    yield a
    a.close()


def _token(http: httpx.Client, client_id: str, secret: str, **form: str) -> httpx.Response:
    """The client credentials grant as any OAuth2 library sends it: a form, the secret in a Basic header."""
    return check(http.post("/admin/api/token", data={"grant_type": "client_credentials", **form},
                           auth=(client_id, secret)))


class Automation:
    """A script that knows only a service account's client id and secret (no administrator, no storage)."""

    def __init__(self, server: Server, client_id: str, secret: str) -> None:
        self.http = server.client()
        answer = _token(self.http, client_id, secret)
        assert answer.status_code == 200, answer.text
        self.granted = answer.json()
        self.headers = {"Authorization": f"Bearer {self.granted['access_token']}"}

    def __call__(self, method: str, path: str, body: object = None) -> httpx.Response:
        return check(self.http.request(method, "/admin/api" + path, json=body, headers=self.headers))

    def close(self) -> None:
        self.http.close()


def _account(admin: Admin, name: str, access: str, realms: list[str]) -> tuple[str, str]:
    made = admin("POST", "/service-accounts", {"name": name, "access": access, "realms": realms})
    assert made.status_code == 201, made.text
    return made.json()["client_id"], made.json()["client_secret"]


def test_a_script_with_only_service_account_credentials_provisions_a_realm(admin: Admin,
                                                                            sqlite_server: Server) -> None:
    client_id, secret = _account(admin, "provisioner", "write", ["acme"])
    bot = Automation(sqlite_server, client_id, secret)
    assert bot.granted["scope"] == "admin:read admin:write" and bot.granted["expires_in"] == 900
    try:
        assert bot("POST", "/realms", {"name": "acme", "settings": {"grant_types": ["client_credentials", TX]}}
                   ).status_code == 201
        assert bot("PATCH", "/realms/acme/settings", {"access_token_lifetime": 600}).status_code == 200
        app = bot("POST", "/realms/acme/applications", {"client_id": "billing", "scopes": ["invoices-read"]}).json()
        bot("POST", "/realms/acme/agents", {"client_id": "helper", "scopes": ["invoices-read"]})
        user = bot("POST", "/realms/acme/users", {"username": "ann", "password": "a-long-password"}).json()
        bot("PUT", "/realms/acme/groups/staff", {"members": [user["id"]]})
        bot("PUT", "/realms/acme/agents/helper/policies/billing", {"subject_groups": ["staff"]})
        assert [r["name"] for r in bot("GET", "/realms").json()] == ["acme"]  # only the realms it may touch
        assert bot("GET", "/realms/acme/config").json()["agents"][0]["policies"][0]["application"] == "billing"

        # What the script provisioned works: the application gets a token from the new realm.
        with sqlite_server.client() as http:
            r = http.post(f"{sqlite_server.realm_url('acme')}/access_token",
                          data={"grant_type": "client_credentials", "client_id": "billing",
                                "client_secret": app["client_secret"]})
            assert r.status_code == 200, r.text

        # Outside its realms, and on the administration itself, it is refused and changes nothing.
        assert_oauth_error(bot("GET", "/realms/alpha/settings"), 403, "access_denied", "realm")
        assert_oauth_error(bot("POST", "/realms", {"name": "other"}), 403, "access_denied", "realm")
        assert_oauth_error(bot("POST", "/service-accounts", {"name": "x", "realms": ["*"]}), 403, "access_denied")
        assert_oauth_error(bot("GET", "/tokens"), 403, "access_denied")
        assert sqlite_server.services.storage.realms.get("other") is None
    finally:
        bot.close()
    # Every change is audited under the account's name.
    events = sqlite_server.services.storage.audit.query("acme", actor="provisioner", limit=100)
    assert {"realm.create", "application.create", "agent.create", "user.create", "group.put", "policy.put"} <= {
        e.action for e in events}
    assert admin("GET", "/realms/acme/audit", params={"actor": "provisioner", "action": "user.create"}).json()


def test_a_read_only_account_reads_and_is_refused_every_write(admin: Admin, sqlite_server: Server) -> None:
    client_id, secret = _account(admin, "auditor", "read", ["alpha"])
    bot = Automation(sqlite_server, client_id, secret)
    try:
        assert bot.granted["scope"] == "admin:read"
        assert bot("GET", "/realms/alpha/settings").status_code == 200
        assert bot("GET", "/realms/alpha/agents").status_code == 200
        before = bot("GET", "/realms/alpha/applications").json()
        r = bot("POST", "/realms/alpha/applications", {"client_id": "sneaky"})
        assert_oauth_error(r, 403, "insufficient_scope")
        assert_oauth_error(bot("PATCH", "/realms/alpha/settings", {"access_token_lifetime": 600}), 403,
                           "insufficient_scope")
        assert_oauth_error(bot("DELETE", "/realms/alpha"), 403, "insufficient_scope")
        assert bot("GET", "/realms/alpha/applications").json() == before
        assert sqlite_server.services.storage.realms.get("alpha") is not None
    finally:
        bot.close()
    # It cannot ask for more than it has.
    with sqlite_server.client() as http:
        assert_oauth_error(_token(http, client_id, secret, scope="admin:write"), 400, "invalid_scope")


def _concrete(path: str, realm: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path.replace("{realm}", realm))


def test_every_admin_api_route_passes_the_access_check(admin: Admin, sqlite_server: Server) -> None:
    """Walk the routes as built (not the document): a read-only account limited to alpha is refused every
    change, every route of another realm and every route of the administration itself."""
    client_id, secret = _account(admin, "walker", "read", ["alpha"])
    bot = Automation(sqlite_server, client_id, secret)
    routes = [r for r in admin_api_routes(sqlite_server.services) if isinstance(r, Route)]
    walked = 0
    try:
        for route in routes:
            if route.path in ("/admin/api/token", "/admin/api/openapi.json"):
                continue
            assert getattr(route.endpoint, "access", None) is not None, route.path
            for method in sorted((route.methods or set()) - {"HEAD"}):
                path = route.path.removeprefix("/admin/api")
                r = bot.http.request(method, "/admin/api" + _concrete(path, "bravo"), json={"name": "bravo"},
                                     headers=bot.headers)
                refused = r.status_code == 403
                if method != "GET" or "{realm}" in route.path or route.path.startswith(
                        ("/admin/api/service-accounts", "/admin/api/tokens")):
                    assert refused, (method, route.path, r.status_code, r.text)
                elif route.path == "/admin/api/realms":
                    assert [x["name"] for x in r.json()] == ["alpha"]  # only the realms it may touch
                walked += 1
    finally:
        bot.close()
    assert walked >= 45


def test_admin_tokens_are_listed_and_revoked(admin: Admin, sqlite_server: Server) -> None:
    client_id, secret = _account(admin, "lister", "read", ["*"])
    bot = Automation(sqlite_server, client_id, secret)
    try:
        assert bot("GET", "/realms/alpha/settings").status_code == 200
        listed = admin("GET", "/tokens").json()
        mine = [t for t in listed if t["holder"] == "lister"]
        assert len(mine) == 1 and mine[0]["holder_kind"] == "service_account" and mine[0]["scopes"] == ["admin:read"]
        assert any(t["holder_kind"] == "admin" for t in listed)
        assert bot.granted["access_token"] not in str(listed)
        assert admin("DELETE", f"/tokens/{mine[0]['id']}").status_code == 204
        assert_oauth_error(bot("GET", "/realms/alpha/settings"), 401, "invalid_token")
        assert_oauth_error(admin("DELETE", f"/tokens/{mine[0]['id']}"), 404, "not_found", "id")
        events = sqlite_server.services.storage.audit.query("__admin__", action="admin.token.revoke")
        assert [e.target for e in events] == ["lister"]
    finally:
        bot.close()


def test_disabling_narrowing_or_deleting_an_account_takes_effect_at_once(admin: Admin, sqlite_server: Server) -> None:
    client_id, secret = _account(admin, "ops", "write", ["alpha", "bravo"])
    bot = Automation(sqlite_server, client_id, secret)
    try:
        assert bot("GET", "/realms/bravo/settings").status_code == 200
        admin("PATCH", "/service-accounts/ops", {"realms": ["alpha"], "access": "read"})
        assert_oauth_error(bot("GET", "/realms/bravo/settings"), 403, "access_denied", "realm")
        assert_oauth_error(bot("POST", "/realms/alpha/users", {"username": "x1", "password": "long-enough-pw"}),
                           403, "insufficient_scope")
        admin("PATCH", "/service-accounts/ops", {"enabled": False})
        assert_oauth_error(bot("GET", "/realms/alpha/settings"), 401, "invalid_token")
        with sqlite_server.client() as http:
            assert_oauth_error(_token(http, client_id, secret), 401, "invalid_client")
        admin("PATCH", "/service-accounts/ops", {"enabled": True})
        assert bot("GET", "/realms/alpha/settings").status_code == 200
        rotated = admin("POST", "/service-accounts/ops/secret").json()["client_secret"]
        with sqlite_server.client() as http:
            assert_oauth_error(_token(http, client_id, secret), 401, "invalid_client")
            assert _token(http, client_id, rotated).status_code == 200
        assert [a["name"] for a in admin("GET", "/service-accounts").json()] == ["ops"]
        assert admin("GET", "/service-accounts/ops").json()["realms"] == ["alpha"]
        assert admin("DELETE", "/service-accounts/ops").status_code == 204
        assert_oauth_error(bot("GET", "/realms/alpha/settings"), 401, "invalid_token")
        assert_oauth_error(admin("GET", "/service-accounts/ops"), 404, "not_found", "name")
    finally:
        bot.close()


def test_token_endpoint_refusals(admin: Admin, sqlite_server: Server) -> None:
    client_id, secret = _account(admin, "picky", "read", ["alpha"])
    with sqlite_server.client() as http:
        assert_oauth_error(_token(http, client_id, "wrong-secret-value"), 401, "invalid_client")
        # A realm's client is no service account, whatever its secret.
        app = admin("POST", "/realms/alpha/applications", {"client_id": "app-1"}).json()
        assert_oauth_error(_token(http, "app-1", app["client_secret"]), 401, "invalid_client")
        r = check(http.post("/admin/api/token", data={"grant_type": "password"}))
        assert_oauth_error(r, 400, "unsupported_grant_type")
        # JSON works too, with the secret in the body.
        r = check(http.post("/admin/api/token", json={"grant_type": "client_credentials", "client_id": client_id,
                                                       "client_secret": secret}))
        assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
        # A service account's token is no console session.
        http.cookies.set("credo_admin", r.json()["access_token"], path="/admin")
        assert http.get("/admin/r/alpha/keys").status_code in (302, 303, 401)
    with pytest.raises(InvalidRequest) as taken:  # an administrator's name is no service account's
        create_service_account(sqlite_server.services, "root-admin", realms=["*"])
    assert "already an administrator" in taken.value.description
    assert_oauth_error(admin("POST", "/service-accounts", {"name": "bad", "realms": ["Not A Realm"]}), 400,
                       "invalid_request", "realms")
    assert_oauth_error(admin("POST", "/service-accounts", {"name": "bad", "realms": ["alpha"], "access": "all"}),
                       400, "invalid_request", "access")


def test_service_account_tokens_are_short_lived(frozen: tuple[Server, FrozenClock]) -> None:
    srv, clock = frozen
    admin = Admin(srv)
    client_id, secret = _account(admin, "brief", "read", ["alpha"])
    bot = Automation(srv, client_id, secret)
    try:
        clock.advance(899)
        assert bot("GET", "/realms/alpha/settings").status_code == 200
        clock.advance(2)
        assert_oauth_error(bot("GET", "/realms/alpha/settings"), 401, "invalid_token")
    finally:
        bot.close()
        admin.close()


def test_a_service_account_token_never_passes_as_an_administrator(admin: Admin, sqlite_server: Server) -> None:
    """Even with an administrator of the same name stored (a name clash the use cases refuse, but a store
    could hold), an account's token is not an administrator's token, in the API or the console."""
    client_id, secret = _account(admin, "twin", "read", ["alpha"])
    bot = Automation(sqlite_server, client_id, secret)
    try:
        services = sqlite_server.services
        services.storage.admins.put(AdminUser(username="twin", password_hash=services.hasher.hash_password("x" * 16)))
        with pytest.raises(InvalidToken):
            authenticate(services, bot.granted["access_token"])
        with pytest.raises(InvalidToken):
            authenticate(services, bot.granted["access_token"], channel="console")
        assert_oauth_error(bot("POST", "/realms/alpha/users", {"username": "x1", "password": "long-enough-pw"}),
                           403, "insufficient_scope")  # still the read-only account, not the administrator
    finally:
        bot.close()
