"""Admin API test helpers: sign in, and check every response against the served OpenAPI document."""

from __future__ import annotations

import re
from typing import Any

import httpx
from jsonschema import Draft202012Validator

from credo.admin.openapi import document
from credo.management.admins import create_admin
from tests.support import Server

ADMIN, PASSWORD = "root-admin", "correct-horse-battery-staple"
DOC = document()
_PATHS = [(re.compile("^/admin/api" + re.sub(r"\{[^}]+\}", "[^/]+", p) + "$"), p) for p in DOC["paths"]]


ALL_OPERATIONS = {op["operationId"] for ops in DOC["paths"].values() for op in ops.values()}


def operation(method: str, url_path: str) -> dict[str, Any]:
    for pattern, template in _PATHS:
        if pattern.match(url_path) and method.lower() in DOC["paths"][template]:
            return DOC["paths"][template][method.lower()]  # type: ignore[no-any-return]
    raise AssertionError(f"{method} {url_path} is not in the OpenAPI document")


def _response_schema(op: dict[str, Any], status: int) -> dict[str, Any] | None:
    spec = op["responses"].get(str(status))
    assert spec is not None, f"status {status} not documented for {op['operationId']}"
    if "$ref" in spec:
        spec = DOC["components"]["responses"][spec["$ref"].rsplit("/", 1)[1]]
    content = spec.get("content")
    return content["application/json"]["schema"] if content else None


def check(response: httpx.Response) -> httpx.Response:
    """Assert the response matches its operation's documented status and schema."""
    op = operation(response.request.method, response.request.url.path)
    schema = _response_schema(op, response.status_code)
    if schema is None:
        assert response.content == b"", response.text
        return response
    Draft202012Validator({**schema, "components": DOC["components"]}).validate(response.json())
    return response


class Admin:
    """An httpx client signed in to the admin API; every response is validated against the document."""

    def __init__(self, server: Server) -> None:
        if server.services.storage.admins.get(ADMIN) is None:
            create_admin(server.services, ADMIN, PASSWORD)
        self.http = server.client()
        token = check(self.http.post("/admin/api/token", json={"username": ADMIN, "password": PASSWORD}))
        self.headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        self.succeeded: set[str] = {"getAdminToken"}  # operationIds that answered 2xx

    def __call__(self, method: str, path: str, body: Any = None, **kw: Any) -> httpx.Response:
        r = check(self.http.request(method, "/admin/api" + path, json=body, headers=self.headers, **kw))
        if r.status_code < 300:
            self.succeeded.add(operation(method, r.request.url.path)["operationId"])
        return r

    def close(self) -> None:
        self.http.close()
