"""Issue finding: administrator tokens survived a password change (up to an hour), and the console cookie
carried the admin API's bearer token. A password change now ends every other token and console session
of that administrator; the console cookie holds a session id the admin API refuses as a bearer token."""

from __future__ import annotations

from starlette.requests import Request

from credo.admin.session import COOKIE, session_token
from tests.http.admin_support import ADMIN, PASSWORD, Admin, console_session
from tests.support import Server

NEW_PASSWORD = "another-long-password-42"


def _cookie_session_id(server: Server, cookie: str) -> str:
    scope = {"type": "http", "headers": [(b"cookie", f"{COOKIE}={cookie}".encode())]}
    value = session_token(server.services, Request(scope))
    assert value is not None
    return value


def test_password_change_ends_the_other_tokens_and_sessions(sqlite_server: Server) -> None:
    api = Admin(sqlite_server)  # an API token, issued before the change
    other_console, _ = console_session(sqlite_server)  # another browser's session
    console, csrf = console_session(sqlite_server)
    try:
        assert api("GET", "/realms").status_code == 200
        r = console.post("/admin/account", data={"csrf": csrf, "current_password": PASSWORD,
                                                 "new_password": NEW_PASSWORD, "repeat_password": NEW_PASSWORD})
        assert r.status_code == 303, r.text
        assert console.get("/admin/account").status_code == 200  # the session that made the change goes on
        assert api("GET", "/realms").status_code == 401
        assert other_console.get("/admin/account").headers.get("location", "").startswith("/admin/login")
        fresh = console.post("/admin/api/token", json={"username": ADMIN, "password": NEW_PASSWORD})
        assert fresh.status_code == 200
    finally:
        for client in (api.http, other_console, console):
            client.close()


def test_console_cookie_is_not_an_api_bearer_token(sqlite_server: Server) -> None:
    console, _ = console_session(sqlite_server)
    try:
        cookie = console.cookies.get(COOKIE, path="/admin")
        assert cookie is not None
        session_id = _cookie_session_id(sqlite_server, cookie)
        with sqlite_server.client() as http:
            r = http.get("/admin/api/realms", headers={"authorization": f"Bearer {session_id}"})
            assert r.status_code == 401
            api_token = http.post("/admin/api/token", json={"username": ADMIN, "password": PASSWORD}).json()
            assert http.get("/admin/api/realms", headers={
                "authorization": f"Bearer {api_token['access_token']}"}).status_code == 200
        assert console.get("/admin/api/realms").status_code == 200  # the cookie itself works in the console
    finally:
        console.close()
