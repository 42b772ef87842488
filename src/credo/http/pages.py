"""The realm's public pages (sign-in, consent, My account, sign-out, errors): rendering, cookies and the
headers every page gets. The pages are server-rendered, autoescaped, never framed (`frame-ancestors
'none'`), never cached, and allow only their own inline style and script (a nonce per response)."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from credo.domain.models import Realm
from credo.http.context import services_of
from credo.oauth.sessions import csrf_token, new_csrf_cookie

TEMPLATES = Environment(loader=FileSystemLoader(str(Path(__file__).parent / "templates")),
                        autoescape=select_autoescape(["html"]), auto_reload=False)
SESSION_COOKIE = "credo_session_"
CSRF_COOKIE = "credo_csrf_"


def cookie_name(prefix: str, realm: Realm) -> str:
    return prefix + "".join(c if c.isalnum() or c in "-_" else "_" for c in realm.name)


def secure(request: Request) -> bool:
    return request.url.scheme == "https" or services_of(request).base_url.startswith("https://")


def form_action_source(uri: str) -> str:
    """The CSP source of where a form's answer may redirect: the origin, or a private-use scheme."""
    parts = urlsplit(uri)
    if parts.scheme in ("http", "https"):
        return f"{parts.scheme}://{parts.netloc}"
    return f"{parts.scheme}:"


class Page:
    """One page being answered: its CSRF cookie (made when the browser has none) and its nonce."""

    def __init__(self, request: Request, realm: Realm) -> None:
        self.request, self.realm = request, realm
        self.nonce = secrets.token_urlsafe(16)
        existing = request.cookies.get(cookie_name(CSRF_COOKIE, realm))
        self.new_csrf = None if existing and len(existing) <= 100 else new_csrf_cookie()
        self.csrf_cookie = existing if self.new_csrf is None else self.new_csrf

    @property
    def csrf(self) -> str:
        return csrf_token(services_of(self.request), self.realm, self.csrf_cookie or "")

    def html(self, template: str, status: int = 200, *, form_targets: Iterable[str] = (), **context: Any) -> Response:
        body = TEMPLATES.get_template(template).render(
            nonce=self.nonce, csrf=self.csrf, realm_label=self.realm.name, **context)
        response = HTMLResponse(body, status_code=status)
        self.secure_headers(response, form_targets)
        return response

    def secure_headers(self, response: Response, form_targets: Iterable[str] = ()) -> None:
        actions = " ".join(["'self'", *dict.fromkeys(form_action_source(t) for t in form_targets if t)])
        response.headers["content-security-policy"] = (
            f"default-src 'none'; style-src 'nonce-{self.nonce}'; script-src 'nonce-{self.nonce}'; "
            f"form-action {actions}; frame-ancestors 'none'; base-uri 'none'")
        response.headers["x-frame-options"] = "DENY"
        response.headers["x-content-type-options"] = "nosniff"
        response.headers["referrer-policy"] = "no-referrer"
        response.headers["cache-control"] = "no-store"
        response.headers["pragma"] = "no-cache"
        if self.new_csrf is not None:
            self.set_cookie(response, CSRF_COOKIE, self.new_csrf, max_age=None)

    def set_cookie(self, response: Response, prefix: str, value: str, *, max_age: int | None) -> None:
        response.set_cookie(cookie_name(prefix, self.realm), value, max_age=max_age, path=self.realm.url_path,
                            httponly=True, samesite="lax", secure=secure(self.request))

    def clear_cookie(self, response: Response, prefix: str) -> None:
        response.delete_cookie(cookie_name(prefix, self.realm), path=self.realm.url_path, httponly=True,
                               samesite="lax", secure=secure(self.request))

    def redirect(self, url: str, params: dict[str, str] | None = None) -> Response:
        """303 after a form (the browser follows with GET), 302 otherwise."""
        if params:
            url = url + ("&" if "?" in url else "?") + urlencode(params)
        response = RedirectResponse(url, status_code=303 if self.request.method == "POST" else 302)
        self.secure_headers(response)
        return response

    def form_post(self, url: str, params: dict[str, str]) -> Response:
        """OAuth 2.0 Form Post Response Mode: an auto-submitted form to the redirect URI."""
        return self.html("form_post.html", form_targets=(url,), action=url, fields=list(params.items()))

    def problem(self, title: str, message: str, status: int = 400, code: str = "") -> Response:
        return self.html("problem.html", status, title=title, message=message, code=code)
