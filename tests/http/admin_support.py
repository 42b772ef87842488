"""Admin test helpers: sign in to the API (every response checked against the served OpenAPI document) or
to the console, and submit a console form as a browser would."""

from __future__ import annotations

import re
from html.parser import HTMLParser
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


def login_csrf(http: Any) -> str:
    form = http.get("/admin/login")
    return str(form.text.split('name="csrf" value="', 1)[1].split('"', 1)[0])


def console_session(server: Server) -> tuple[Any, str]:
    """An httpx client signed in to the console (with the session cookie), and the session's CSRF token."""
    Admin(server).close()
    http = server.client()
    r = http.post("/admin/login", data={"username": ADMIN, "password": PASSWORD, "csrf": login_csrf(http)})
    assert r.status_code == 303
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "secure" not in cookie  # plain-http test URL
    page = http.get("/admin/r/root/settings")
    token = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    return http, token


class _FormFields(HTMLParser):
    """The values a browser submits for the form with `form_id`: text-like inputs, checked boxes, each
    select's selected option (else its first), textareas (one leading newline dropped, as HTML does)."""

    def __init__(self, form_id: str) -> None:
        super().__init__(convert_charrefs=True)
        self.form_id, self.inside, self.found = form_id, False, False
        self.fields: dict[str, list[str]] = {}
        self._select: str | None = None
        self._options: list[tuple[str, bool]] = []
        self._textarea: str | None = None
        self._text: list[str] = []

    def _add(self, name: str | None, value: str) -> None:
        if name:
            self.fields.setdefault(name, []).append(value)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.inside = a.get("id") == self.form_id
            self.found |= self.inside
        elif not self.inside or "disabled" in a:
            return
        elif tag == "input" and a.get("type", "text") not in ("submit", "button", "checkbox", "radio"):
            self._add(a.get("name"), a.get("value", ""))
        elif tag == "input" and a.get("type") in ("checkbox", "radio") and "checked" in a:
            self._add(a.get("name"), a.get("value") or "on")
        elif tag == "select":
            self._select, self._options = a.get("name"), []
        elif tag == "option" and self._select is not None:
            self._options.append((a.get("value", ""), "selected" in a))
        elif tag == "textarea":
            self._textarea, self._text = a.get("name"), []

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "select" and self._select is not None:
            chosen = [v for v, on in self._options if on] or [v for v, _ in self._options[:1]]
            for value in chosen:
                self._add(self._select, value)
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            text = "".join(self._text)
            self._add(self._textarea, text[1:] if text.startswith("\n") else text)
            self._textarea = None


def form_fields(html: str, form_id: str) -> dict[str, list[str]]:
    """What submitting the form `form_id` of `html` unchanged sends (as a browser would)."""
    parser = _FormFields(form_id)
    parser.feed(html)
    assert parser.found, f"no form {form_id!r} on the page"
    return parser.fields


def submit_form(http: Any, path: str, form_id: str, **changes: Any) -> Any:
    """Load `path`, change the named fields of form `form_id` and submit it as a browser would."""
    page = http.get(path)
    assert page.status_code == 200, page.text
    fields = form_fields(page.text, form_id)
    fields.update({k: v if isinstance(v, list) else [v] for k, v in changes.items()})
    return http.post(path, data={k: v for k, v in fields.items() if v != []})
