"""The admin API answers 415 for a request body that is not application/json (as the public endpoints
do), with its usual error body, on every write method; the status is documented; nothing changes."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from credo.management.export import export_realm
from tests.factories import assert_oauth_error
from tests.http.admin_support import ADMIN, DOC, PASSWORD, Admin, check
from tests.support import Server

WRITES = [  # (method, path, a valid JSON body): one of each write method family, and the sign-in
    ("POST", "/realms", b'{"name": "beta"}'),
    ("POST", "/realms/alpha/users", b'{"username": "u2", "password": "long-enough-pw"}'),
    ("PATCH", "/realms/alpha/settings", b'{"access_token_lifetime": 99}'),
    ("PATCH", "/realms/alpha/users/{user}", b'{"active": false}'),
    ("PUT", "/realms/alpha/groups/g1", b'{"members": ["u1"]}'),
    ("PUT", "/realms/alpha/config", b'{"realm": "alpha", "users": [{"username": "u3", "password": "pw-pw-pw"}]}'),
]
WRONG_TYPES = ["application/x-www-form-urlencoded", "text/plain", "application/jsonx", "multipart/form-data", None]


@pytest.fixture
def admin(sqlite_server: Server) -> Iterator[Admin]:
    a = Admin(sqlite_server)
    a("POST", "/realms", {"name": "alpha"})
    a("POST", "/realms/alpha/users", {"username": "u1", "password": "long-enough-pw"})
    yield a
    a.close()


def _send(admin: Admin, method: str, path: str, body: bytes, media: str | None) -> httpx.Response:
    headers = dict(admin.headers)
    if media is not None:
        headers["content-type"] = media
    return check(admin.http.request(method, "/admin/api" + path, content=body, headers=headers))


@pytest.mark.parametrize("media", WRONG_TYPES)
@pytest.mark.parametrize("method, path, body", WRITES)
def test_a_body_that_is_not_json_is_415_and_changes_nothing(admin: Admin, sqlite_server: Server, method: str,
                                                            path: str, body: bytes, media: str | None) -> None:
    user = sqlite_server.services.storage.users.by_username("alpha", "u1")
    assert user is not None
    path = path.replace("{user}", user.id)
    before = export_realm(sqlite_server.services, "alpha")
    r = _send(admin, method, path, body, media)
    assert_oauth_error(r, 415, "invalid_request", "body")
    assert r.json() == {"error": "invalid_request", "field": "body",
                        "error_description": "body: the request body must be application/json."}
    assert export_realm(sqlite_server.services, "alpha") == before
    assert sqlite_server.services.storage.realms.get("beta") is None
    ok = _send(admin, method, path, body, "application/json; charset=utf-8")  # the same body, declared as JSON
    assert ok.status_code < 300, ok.text


def test_the_sign_in_refuses_a_form_body_with_415(sqlite_server: Server, admin: Admin) -> None:
    with sqlite_server.client() as http:
        r = check(http.post("/admin/api/token", data={"username": ADMIN, "password": PASSWORD}))
    assert_oauth_error(r, 415, "invalid_request", "body")


def test_every_operation_with_a_body_documents_415() -> None:
    with_body = [(path, verb) for path, ops in DOC["paths"].items() for verb, op in ops.items() if "requestBody" in op]
    assert len(with_body) >= 15
    for path, verb in with_body:
        assert DOC["paths"][path][verb]["responses"]["415"] == {"$ref": "#/components/responses/UnsupportedMediaType"}
    assert DOC["components"]["responses"]["UnsupportedMediaType"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"}
