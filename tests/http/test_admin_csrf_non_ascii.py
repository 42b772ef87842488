"""A CSRF value outside ASCII is a wrong CSRF value (403), never a 500: `hmac.compare_digest` raises on
such str arguments, so every CSRF comparison of the console and the admin API compares bytes."""

from __future__ import annotations

from tests.http.admin_support import console_session, login_csrf
from tests.support import Server


def test_console_login_form(sqlite_server: Server) -> None:
    with sqlite_server.client() as http:
        login_csrf(http)  # the browser has the login cookie
        r = http.post("/admin/login", data={"username": "admin", "password": "x", "csrf": "\u00e9t\u00e9"})
        assert r.status_code == 403 and "expired" in r.text


def test_console_form_and_admin_api_header(sqlite_server: Server) -> None:
    http, _ = console_session(sqlite_server)
    try:
        form = http.post("/admin/r/root/settings", data={"csrf": "\u00e9t\u00e9"})
        assert form.status_code == 403, form.status_code
        api = http.request("PATCH", "/admin/api/realms/alpha/settings", json={"access_token_lifetime": 600},
                           headers={"x-csrf-token": "\u00e9t\u00e9".encode()})
        assert api.status_code == 403, (api.status_code, api.text)
    finally:
        http.close()
