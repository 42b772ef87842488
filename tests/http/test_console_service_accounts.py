"""The console's service accounts page through the ASGI app: create one (the secret shown once, with a
Copy button, working at /admin/api/token), disable it (its token stops working at once), a new secret,
delete; the admin API tokens and console sessions listed and revoked; every form needs the CSRF token."""

from __future__ import annotations

from tests.http.admin_support import console_session
from tests.support import Server

PAGE = "/admin/service-accounts"


def _secret(text: str) -> str:
    return text.split('<div class="secret" id="account-secret">', 1)[1].split("</div>", 1)[0]


def _token(server: Server, name: str, secret: str) -> int | str:
    with server.client() as http:
        r = http.post("/admin/api/token", data={"grant_type": "client_credentials"}, auth=(name, secret))
        return r.json()["access_token"] if r.status_code == 200 else r.status_code


def _realms(server: Server, token: str) -> int:
    with server.client() as http:
        return http.get("/admin/api/realms", headers={"Authorization": f"Bearer {token}"}).status_code


def test_an_administrator_manages_service_accounts_and_admin_tokens_in_the_console(sqlite_server: Server) -> None:
    server = sqlite_server
    console, csrf = console_session(server)
    page = console.get(PAGE)
    assert page.status_code == 200 and 'href="/admin/service-accounts"' in page.text and "No service accounts." in page.text
    assert console.post(PAGE, data={"name": "ci", "access": "read", "realms": "*"}).status_code == 403  # no CSRF
    bad = console.post(PAGE, data={"csrf": csrf, "name": "c i", "access": "read", "realms": "*"})
    assert bad.status_code == 400 and 'id="err-name"' in bad.text and 'value="c i"' in bad.text
    made = console.post(PAGE, data={"csrf": csrf, "name": "ci", "access": "read", "realms": "root",
                                    "description": "CI job"})
    assert made.status_code == 200 and 'data-copy="account-secret"' in made.text
    secret = _secret(made.text)
    token = _token(server, "ci", secret)
    assert isinstance(token, str) and _realms(server, token) == 200
    assert secret not in console.get(PAGE).text  # shown once
    listed = console.get(PAGE).text
    assert 'id="sa-ci"' in listed and "CI job" in listed and "service_account" in listed  # its token is listed
    off = console.post(f"{PAGE}/ci/enabled", data={"csrf": csrf, "enabled": "false"})
    assert off.status_code == 303 and _realms(server, token) == 401  # at once, for the token already issued
    console.post(f"{PAGE}/ci/enabled", data={"csrf": csrf, "enabled": "true"})
    assert _realms(server, token) == 200
    renewed = console.post(f"{PAGE}/ci/secret", data={"csrf": csrf})
    new = _secret(renewed.text)
    assert new != secret and _token(server, "ci", secret) == 401 and isinstance(_token(server, "ci", new), str)
    record = server.services.storage.tokens.get(server.services.hasher.keyed_hash(token))
    assert record is not None and f'id="token-{record.jti}"' in console.get(PAGE).text
    assert console.post(f"{PAGE}/tokens/{record.jti}/revoke", data={}).status_code == 403
    revoked = console.post(f"{PAGE}/tokens/{record.jti}/revoke", data={"csrf": csrf})
    assert revoked.status_code == 303 and "revoked" in revoked.headers["location"]
    assert _realms(server, token) == 401
    gone = console.post(f"{PAGE}/ci/delete", data={"csrf": csrf})
    assert gone.status_code == 303 and 'id="sa-ci"' not in console.get(PAGE).text
    assert [e.actor for e in server.services.storage.audit.query("__admin__", action="service_account.create")] == [
        "root-admin"]
