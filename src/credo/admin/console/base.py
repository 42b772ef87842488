"""Console plumbing: templates (autoescaped), the signed-in page guard, forms with a CSRF check."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from credo.admin.session import csrf_ok, csrf_token, session_token
from credo.admin.web import read_body, services_of
from credo.domain.errors import InvalidToken, OAuthError
from credo.management.admins import authenticate
from credo.management.listings import PageRequest
from credo.management.messages import says
from credo.oauth.services import Services

TEMPLATES = Environment(loader=FileSystemLoader(str(Path(__file__).parent.parent / "templates")),
                        autoescape=select_autoescape(default=True, default_for_string=True))


def _datetime(ts: int | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts)) if ts else "—"


TEMPLATES.filters["datetime"] = _datetime
TEMPLATES.filters["pair"] = lambda value: (value, value)
TEMPLATES.filters["grant_label"] = lambda grant: str(grant).rsplit(":", 1)[-1]  # ...:grant-type:token-exchange
HEADERS = {"cache-control": "no-store", "x-frame-options": "DENY", "referrer-policy": "no-referrer",
           "content-security-policy": "default-src 'self'; style-src 'self'; script-src 'self'; "
                                      "frame-ancestors 'none'; form-action 'self'"}


@dataclass
class Page:
    request: Request
    services: Services
    admin: str
    token: str
    form: dict[str, list[str]] = field(default_factory=dict)
    refused: bool = False  # set when a save was refused: forms then show what was typed

    def shown(self, name: str, stored: Any) -> Any:
        return self.value(name) if self.refused else stored

    def shown_list(self, name: str, stored: Any) -> Any:
        return self.values(name) if self.refused else stored

    def shown_on(self, name: str, stored: bool) -> bool:
        return self.checked(name) if self.refused else stored

    @property
    def realm(self) -> str:
        name = str(self.request.path_params.get("realm", "root"))
        self.services.realm(name)
        return name

    def value(self, name: str, default: str = "") -> str:
        values = self.form.get(name)
        return values[0].strip() if values else default

    def raw(self, name: str) -> str:
        """A value exactly as typed (passwords and secrets are never trimmed)."""
        values = self.form.get(name)
        return values[0] if values else ""

    def values(self, name: str) -> list[str]:
        return [v.strip() for v in self.form.get(name, []) if v.strip()]

    def items(self, name: str) -> list[str]:
        """Whitespace-separated items (URLs, one a line: they may hold commas, never spaces)."""
        return [w for v in self.form.get(name, []) for w in v.split() if w]

    def words(self, name: str) -> list[str]:
        return [w for v in self.form.get(name, []) for w in v.replace(",", " ").split() if w]

    def checked(self, name: str) -> bool:
        return self.value(name) in ("on", "true", "1")

    def fmt(self, ts: int | None) -> str:
        return _datetime(ts)

    def ask(self) -> PageRequest:
        """A list's search text (`q`), cursor (`after`) and order (`order=desc`) from the query string."""
        params = self.request.query_params
        return PageRequest(text=params.get("q"), after=params.get("after"), descending=params.get("order") == "desc")

    def list_url(self, **changes: str | None) -> str:
        """This page's URL with the query parameters in `changes` set (None removes one)."""
        params = dict(self.request.query_params)
        params.pop("notice", None)
        for key, value in changes.items():
            if value is None:
                params.pop(key, None)
            else:
                params[key] = value
        return self.request.url.path + ("?" + urlencode(params) if params else "")

    def render(self, template: str, status: int = 200, **context: Any) -> Response:
        realms = [r.name for r in self.services.storage.realms.all()]
        account = self.services.storage.admins.get(self.admin)
        realm = self.request.path_params.get("realm")
        html = TEMPLATES.get_template(template).render(
            admin=self.admin, must_change=bool(account and account.must_change_password), csrf=csrf_token(self.services, self.token), realms=realms,
            realm=realm or self.request.cookies.get(REALM_COOKIE) or "root", path=self.request.url.path, **context)
        response = HTMLResponse(html, status_code=status, headers=HEADERS)
        if realm and realm in realms and status < 400:
            remember_realm(response, realm, secure=self.services.base_url.startswith("https://"))
        return response

    def redirect(self, path: str, notice: str = "") -> Response:
        joiner = "&" if "?" in path else "?"
        target = path + (f"{joiner}notice={quote(notice)}" if notice else "")
        return RedirectResponse(target, status_code=303, headers={"cache-control": "no-store"})


REALM_COOKIE = "credo_console_realm"


def remember_realm(response: Response, realm: str, *, secure: bool) -> None:
    """The realm the administrator last worked in: where the console opens next time (not a credential)."""
    response.set_cookie(REALM_COOKIE, realm, max_age=180 * 86400, path="/admin", httponly=True, samesite="lax",
                        secure=secure)


def field_errors(exc: Exception) -> dict[str, str]:
    """`{"field": "message"}` from a domain error ("field: message") or a pydantic error."""
    if isinstance(exc, ValidationError):
        out: dict[str, str] = {}
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ())]
            out.setdefault(loc[0] if loc else "form", says(err))
        return out
    text = exc.description if isinstance(exc, OAuthError) else str(exc)
    head, sep, rest = text.partition(":")
    if sep and " " not in head:
        return {head: rest.strip()}
    return {"form": text}


async def read_multi_form(request: Request) -> dict[str, list[str]]:
    body = await read_body(request)
    out: dict[str, list[str]] = {}
    for key, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=500):
        out.setdefault(key, []).append(value.replace("\x00", ""))
    return out


PageHandler = Callable[[Page], Response]


def _problem(current: Page, title: str, exc: OAuthError) -> Response:
    """A refusal inside the console's frame: the navigation stays (the realm switcher falls back to the
    remembered realm when the one in the address does not exist)."""
    if current.request.path_params.get("realm") not in {r.name for r in current.services.storage.realms.all()}:
        current.request.path_params.pop("realm", None)
    return current.render("problem.html", status=exc.status, title=title, message=exc.description)


def page(handler: PageHandler) -> Callable[[Request], Awaitable[Response]]:
    """Signed-in pages; POSTs must carry the session's CSRF token."""

    async def run(request: Request) -> Response:
        services = services_of(request)
        token = session_token(services, request)
        try:
            admin = authenticate(services, token or "", channel="console")
        except InvalidToken:
            return RedirectResponse(f"/admin/login?next={quote(request.url.path)}", status_code=303)
        form: dict[str, list[str]] = {}
        if request.method == "POST":
            form = await read_multi_form(request)
            if not csrf_ok(services, token or "", (form.get("csrf") or [""])[0]):
                return HTMLResponse("<h1>403 Forbidden</h1><p>The form's CSRF token is missing or wrong. "
                                    "Reload the page and try again.</p>", status_code=403, headers=HEADERS)
        current = Page(request, services, admin, token or "", form)
        try:
            return await run_in_threadpool(handler, current)
        except OAuthError as exc:
            title = "Not found" if exc.status == 404 else "Not done"
            return await run_in_threadpool(_problem, current, title, exc)

    return run
