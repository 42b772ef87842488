"""The console's realm pages through the ASGI app: a user's grants (revocable), a new password, a dynamic
client's page, the overview, where the console opens, refusals inside the console's frame, the audit log's
paging and its JSON-lines export (also through the admin API's `before`)."""

from __future__ import annotations

import orjson
import pytest

from credo.domain.models import AuditEvent
from credo.management.usecases import create_user
from credo.oauth.tokens import REVOKED_PREFIX
from tests.factories import client_credentials
from tests.http.admin_support import Admin, console_session
from tests.signin import (
    browser_client,
    enable_code_flow,
    introspect,
    obtain_code,
    pkce,
    profile_user,
    redeem,
)
from tests.support import Server

pytestmark = pytest.mark.usefixtures("demo")  # the demo realms alpha and bravo


def _csrf(page_text: str) -> str:
    return page_text.split('name="csrf" value="', 1)[1].split('"', 1)[0]


def test_an_administrator_revokes_a_users_grant_and_its_tokens_die(server: Server) -> None:
    services = server.services
    enable_code_flow(services)
    browser_client(services)
    user = profile_user(services)
    with server.client() as http:
        challenge = pkce()
        tokens = redeem(http, server.realm_url("alpha"), obtain_code(http, server.realm_url("alpha"),
                                                                      challenge=challenge)["code"], challenge).json()
        assert introspect(server, http, tokens["access_token"])["active"] is True
    console, csrf = console_session(server)
    page = console.get(f"/admin/r/alpha/users/{user.id}")
    assert page.status_code == 200 and "web-app" in page.text and "openid profile" in page.text
    revoked = console.post(f"/admin/r/alpha/users/{user.id}/grants/web-app/revoke", data={"csrf": csrf})
    assert revoked.status_code == 303 and "revoked" in revoked.headers["location"]
    assert services.storage.consents.get("alpha", user.id, "web-app") is None
    with server.client() as http:
        assert introspect(server, http, tokens["access_token"])["active"] is False
        assert http.post(f"{server.realm_url('alpha')}/access_token", data={
            "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": "web-app"}
        ).json()["error"] == "invalid_grant"
    events = services.storage.audit.query("alpha", action="grant.revoke")
    assert [(e.actor, e.target, e.details) for e in events] == [("root-admin", "web-app", {"user": user.id})]
    again = console.post(f"/admin/r/alpha/users/{user.id}/grants/web-app/revoke", data={"csrf": csrf})
    assert again.status_code == 404 and 'id="realm-switch"' in again.text  # the console's frame stays


def test_an_administrator_sets_a_new_password(server: Server) -> None:
    user = create_user(server.services, "alpha", "pat", "first-password-123")
    console, csrf = console_session(server)
    short = console.post(f"/admin/r/alpha/users/{user.id}/password", data={"csrf": csrf, "password": ""})
    assert short.status_code == 303 and "not%20changed" in short.headers["location"]
    done = console.post(f"/admin/r/alpha/users/{user.id}/password", data={"csrf": csrf, "password": "second-password-456"})
    assert done.status_code == 303 and "Password%20changed" in done.headers["location"]
    with server.client() as http:
        base = server.realm_url("alpha")
        enable_code_flow(server.services)
        browser_client(server.services, client_id="pw-app", public=False, secret="pw-app-secret-0123456789",
                       grant_types=("password",))
        def grant(password: str) -> int:
            return http.post(f"{base}/access_token", data={"grant_type": "password", "username": "pat",
                                                          "password": password, "client_id": "pw-app",
                                                          "client_secret": "pw-app-secret-0123456789"}).status_code
        assert grant("first-password-123") == 400
        assert grant("second-password-456") == 200


def test_a_dynamic_client_has_its_own_page(server: Server) -> None:
    with server.client() as http:
        r = http.post(f"{server.realm_url('alpha')}/register", json={
            "client_name": "Robot <b>one</b>", "redirect_uris": ["https://robot.example/cb"]})
    assert r.status_code == 201, r.text
    client_id = r.json()["client_id"]
    console, _ = console_session(server)
    listing = console.get("/admin/r/alpha/dynamic?q=ROBOT")
    assert f"/admin/r/alpha/dynamic/{client_id}" in listing.text
    page = console.get(f"/admin/r/alpha/dynamic/{client_id}")
    assert page.status_code == 200
    assert "Robot &lt;b&gt;one&lt;/b&gt;" in page.text and "<b>one</b>" not in page.text
    assert "https://robot.example/cb" in page.text and "secret_hash" not in page.text
    assert console.get("/admin/r/alpha/dynamic/demo-client").status_code == 404  # not a dynamic client


def test_lists_page_with_a_cursor_and_search(server: Server) -> None:
    for i in range(60):
        create_user(server.services, "alpha", f"member{i:02d}", "member-password-123", email=f"m{i}@corp.example")
    console, _ = console_session(server)
    first = console.get("/admin/r/alpha/users")
    assert first.text.count('href="/admin/r/alpha/users/') >= 50 and 'id="next-page"' in first.text
    nxt = first.text.split('id="next-page"', 1)[0].rsplit('href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    second = console.get(nxt)
    assert ">member49<" in second.text or ">member50<" in second.text
    assert ">member00<" not in second.text
    found = console.get("/admin/r/alpha/users?q=M7%40CORP")
    assert ">member07<" in found.text and ">member08<" not in found.text and 'id="next-page"' not in found.text
    assert console.get("/admin/r/nosuch/users").status_code == 404


def test_the_console_opens_on_the_last_realm_used(server: Server) -> None:
    console, _ = console_session(server)  # signs in and opens root's settings: root is the last realm used
    assert console.get("/admin/", follow_redirects=False).headers["location"] == "/admin/r/root/overview"
    console.cookies.delete("credo_console_realm")
    first = console.get("/admin/", follow_redirects=False)
    assert first.headers["location"] == "/admin/r/alpha/overview"  # none remembered: the first realm besides root
    console.get("/admin/r/bravo/users")
    assert console.get("/admin/", follow_redirects=False).headers["location"] == "/admin/r/bravo/overview"
    missing = console.get("/admin/r/nosuch/overview")
    assert missing.status_code == 404 and 'id="realm-switch"' in missing.text and "nosuch" in missing.text
    assert console.get("/admin/", follow_redirects=False).headers["location"] == "/admin/r/bravo/overview"


def _periods(page: str, table: str) -> tuple[str, str]:
    """The last-hour and last-day rows of one of the overview's tables."""
    rows = page.split(f'id="{table}"', 1)[1].split("</table>", 1)[0]
    return tuple(rows.split(f'data-period="{period}"', 1)[1].split("</tr>", 1)[0]  # type: ignore[return-value]
                 for period in ("hour", "day"))


def test_overview_counts_and_exchange_decisions(server: Server) -> None:
    services, now = server.services, server.services.clock.now()
    exchange = {"subject": None, "actor_chain": ["agent-1"], "audience": "app-1", "scopes_requested": ["a"],
                "scopes_granted": ["a"]}
    services.storage.audit.add_many([
        AuditEvent(realm="alpha", action="token_exchange", actor="agent-1", decision="allow", ts=now - 60,
                   details=exchange),
        AuditEvent(realm="alpha", action="token_exchange", actor="agent-1", decision="deny", ts=now - 7200,
                   reason="access_denied: nope", details=exchange),
        AuditEvent(realm="alpha", action="token_exchange", actor="agent-2", decision="allow", ts=now - 2 * 86400,
                   details=exchange)])
    console, _ = console_session(server)
    page = console.get("/admin/r/alpha/overview").text
    hour, day = _periods(page, "exchanges")
    assert '"allow">1<' in hour and '"deny">0<' in hour
    assert '"allow">1<' in day and '"deny">1<' in day  # the two-day-old event is out of the day
    assert "agent-1" in page.split('id="active-agents"', 1)[1] and "agent-2" not in page.split('id="active-agents"', 1)[1]
    assert "access_denied: nope" in page


def test_overview_counts_the_tokens_issued_in_the_last_hour_and_day(server: Server, demo: dict[str, str]) -> None:
    services, now = server.services, server.services.clock.now()
    with server.client() as http:
        for _ in range(3):
            client_credentials(http, server.realm_url("alpha"), "bench-client", demo["bench-client"], scope="data-read")
    services.storage.usage.note("alpha", "password", now - 7200)  # within the day, not the hour
    services.storage.usage.note("alpha", "password", now - 2 * 86_400)  # neither
    services.storage.usage.note("bravo", "client_credentials", now)  # another realm
    console, _ = console_session(server)
    hour, day = _periods(console.get("/admin/r/alpha/overview").text, "tokens")
    assert '"total">3<' in hour and 'data-grant="client_credentials">client_credentials 3<' in hour
    assert "password" not in hour
    assert '"total">4<' in day and 'data-grant="password">password 1<' in day


def test_audit_pages_back_and_exports_every_matching_event(server: Server) -> None:
    services = server.services
    services.storage.audit.add_many([AuditEvent(realm="alpha", action="probe", actor=f"a{i}", ts=1000 + i)
                                     for i in range(1050)])  # more than one export page (1,000)
    console, _ = console_session(server)
    page = console.get("/admin/r/alpha/audit?action=probe")
    assert page.text.count("<tr data-id=") == 50
    nxt = page.text.split('id="next-page"', 1)[0].rsplit('href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    assert "action=probe" in nxt and "before=" in nxt
    older = console.get(nxt)
    assert older.text.count("<tr data-id=") == 50 and ">a999<" in older.text and ">a1000<" not in older.text
    export = console.get("/admin/r/alpha/audit.jsonl?action=probe")
    assert export.status_code == 200 and export.headers["content-type"].startswith("application/jsonl")
    lines = [orjson.loads(line) for line in export.content.splitlines()]
    assert [e["actor"] for e in lines] == [f"a{i}" for i in reversed(range(1050))]
    admin = Admin(server)
    first = admin("GET", "/realms/alpha/audit?action=probe&limit=1000").json()
    rest = admin("GET", f"/realms/alpha/audit?action=probe&limit=1000&before={first[-1]['id']}").json()
    assert len(first) == 1000 and [e["actor"] for e in rest] == [f"a{i}" for i in reversed(range(50))]
    assert admin("GET", "/realms/alpha/audit?before=x").status_code == 400
    admin.close()


def test_the_users_page_names_group_members_by_username(server: Server) -> None:
    services = server.services
    user = create_user(services, "alpha", "gwen", "gwen-password-123")
    console, csrf = console_session(server)
    r = console.post("/admin/r/alpha/users", data={"csrf": csrf, "form": "group", "group_name": "ops",
                                                  "members": "gwen"})
    assert r.status_code == 303
    assert services.storage.groups.get("alpha", "ops").members == (user.id,)
    page = console.get("/admin/r/alpha/users").text
    assert "<td>ops</td><td>gwen</td>" in page


def test_the_provider_page_is_organized_by_task(server: Server) -> None:
    console, csrf = console_session(server)
    tokens = console.get("/admin/r/alpha/settings?tab=tokens").text
    assert 'name="access_token_lifetime"' in tokens and 'name="session_lifetime"' not in tokens
    assert 'name="allow_open_registration"' not in tokens and 'value="issue_refresh_tokens"' in tokens
    sessions = console.get("/admin/r/alpha/settings?tab=sessions").text
    assert 'name="session_lifetime"' in sessions and 'name="grant_types"' not in sessions
    assert console.get("/admin/r/alpha/settings").text.count('name="allow_open_registration"') == 1  # the default tab
    before = server.services.realm("alpha").settings
    # The tokens tab's form: its boxes only, so settings of other tabs (e.g. open registration) stay as they are.
    r = console.post("/admin/r/alpha/settings", data={
        "csrf": csrf, "tab": "tokens", "boxes": ["grant_types", "issue_refresh_tokens"],
        "grant_types": list(before.grant_types), "access_token_lifetime": "900", "refresh_token_lifetime": "7200",
        "token_format": before.token_format, "signing_alg": before.signing_alg})
    assert r.status_code == 303 and r.headers["location"].startswith("/admin/r/alpha/settings?tab=tokens")
    after = server.services.realm("alpha").settings
    assert after.access_token_lifetime == 900 and not after.issue_refresh_tokens
    assert after.allow_open_registration == before.allow_open_registration
    assert after.session_lifetime == before.session_lifetime
    refused = console.post("/admin/r/alpha/settings", data={"csrf": csrf, "tab": "sessions", "session_lifetime": "5"})
    assert refused.status_code == 400 and "must be at least 60" in refused.text
    assert 'id="tab-sessions" class="on"' in refused.text


def test_a_users_tokens_are_listed_and_revoked_one_by_one(server: Server) -> None:
    services = server.services
    enable_code_flow(services)
    browser_client(services)
    user = profile_user(services)
    with server.client() as http:
        base = server.realm_url("alpha")
        challenge = pkce()
        tokens = redeem(http, base, obtain_code(http, base, challenge=challenge)["code"], challenge).json()
    console, csrf = console_session(server)
    page = console.get(f"/admin/r/alpha/users/{user.id}").text
    listed = page.split('id="tokens"', 1)[1].split("</table>", 1)[0]
    refresh = next(r for r in services.storage.tokens.of_realm("alpha", services.clock.now(), sub=user.id)
                   if r.kind == "refresh_token")
    assert f'data-jti="{refresh.jti}"' in listed and "refresh token" in listed
    r = console.post(f"/admin/r/alpha/users/{user.id}/tokens/{refresh.jti}/revoke", data={"csrf": csrf})
    assert r.status_code == 303 and "Refresh%20token%20revoked" in r.headers["location"]
    with server.client() as http:
        again = http.post(f"{server.realm_url('alpha')}/access_token", data={
            "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": "web-app"})
        assert again.json()["error"] == "invalid_grant"
        assert introspect(server, http, tokens["access_token"])["active"] is False  # the family ends with it
    assert [e.details["jti"] for e in services.storage.audit.query("alpha", action="token.revoke")] == [refresh.jti]
    assert console.post(f"/admin/r/alpha/users/{user.id}/tokens/{refresh.jti}/revoke",
                        data={"csrf": csrf}).status_code == 404


def test_a_dynamic_clients_stored_tokens_are_listed_and_revoked(server: Server) -> None:
    from credo.domain.models import TokenRecord

    services = server.services
    with server.client() as http:
        r = http.post(f"{server.realm_url('alpha')}/register", json={"client_name": "Robot",
                                                                    "redirect_uris": ["https://robot.example/cb"]})
    client_id = r.json()["client_id"]
    now = services.clock.now()
    services.storage.tokens.add(TokenRecord(token_hash="h-robot", realm="alpha", jti="jti-robot", kind="access_token",
                                            client_id=client_id, sub=client_id, scopes=("data-read",), issued_at=now,
                                            expires_at=now + 600, claims={}))
    console, csrf = console_session(server)
    page = console.get(f"/admin/r/alpha/dynamic/{client_id}").text
    assert 'data-jti="jti-robot"' in page
    done = console.post(f"/admin/r/alpha/dynamic/{client_id}/tokens/jti-robot/revoke", data={"csrf": csrf})
    assert done.status_code == 303
    assert services.storage.tokens.get("h-robot") is None
    assert services.storage.one_time.is_burned("alpha", REVOKED_PREFIX + "jti-robot")
