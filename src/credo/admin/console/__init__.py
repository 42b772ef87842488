"""The web console at /admin (server-rendered; works without JavaScript)."""

from __future__ import annotations

import hmac
import secrets
from pathlib import Path
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from credo.admin.console import accounts, clients, onboarding, other, scripts, settings
from credo.admin.console.base import HEADERS, REALM_COOKIE, TEMPLATES, Page, page, read_multi_form
from credo.admin.session import clear_session, set_session
from credo.admin.web import services_of
from credo.domain.errors import OAuthError
from credo.management.admins import login, logout

R = "/admin/r/{realm}"
GET_POST = ["GET", "POST"]


def _safe_next(target: str) -> str:
    return target if target.startswith("/admin/") and not target.startswith("//") else "/admin/"


LOGIN_COOKIE = "credo_login"


def _login_form(request: Request, status: int = 200, **context: str) -> Response:
    """The sign-in form, with a fresh pre-session CSRF token (cookie + hidden field, compared on POST)."""
    token = secrets.token_urlsafe(32)
    context.setdefault("next", request.query_params.get("next", ""))
    context.setdefault("username", "")
    html = TEMPLATES.get_template("login.html").render(csrf=token, **context)
    response = HTMLResponse(html, status_code=status, headers=HEADERS)
    response.set_cookie(LOGIN_COOKIE, token, max_age=3600, path="/admin/login", httponly=True, samesite="strict",
                        secure=services_of(request).base_url.startswith("https://"))
    return response


async def login_page(request: Request) -> Response:
    services = services_of(request)
    if request.method == "GET":
        return _login_form(request)
    form = await read_multi_form(request)
    username = (form.get("username") or [""])[0]
    expected, presented = request.cookies.get(LOGIN_COOKIE, ""), (form.get("csrf") or [""])[0]
    if not expected or not hmac.compare_digest(expected.encode("utf-8", "surrogatepass"),
                                               presented.encode("utf-8", "surrogatepass")):
        return _login_form(request, 403, username=username, error="The sign-in form expired; please try again.")
    try:
        token = await run_in_threadpool(login, services, username, (form.get("password") or [""])[0],
                                        source=request.client.host if request.client else "", channel="console")
    except OAuthError as exc:
        throttled = exc.status == 429
        return _login_form(request, 429 if throttled else 401, next=(form.get("next") or [""])[0],
                           username=username,
                           error="Too many failed attempts; wait a minute." if throttled else "Wrong username or password.")
    response = RedirectResponse(_safe_next((form.get("next") or [""])[0]), status_code=303)
    set_session(services, response, token)
    response.delete_cookie(LOGIN_COOKIE, path="/admin/login")
    return response


async def home(request: Request) -> Response:
    """The overview of the realm last worked in; the first realm besides `root` otherwise (a demo server's
    demo realm), `root` when there is no other."""
    names = [r.name for r in await run_in_threadpool(services_of(request).storage.realms.all)]
    remembered = request.cookies.get(REALM_COOKIE)
    realm = remembered if remembered in names else next((n for n in sorted(names) if n != "root"), "root")
    return RedirectResponse(f"/admin/r/{quote(realm, safe='')}/overview", status_code=303)


async def switch(request: Request) -> Response:
    return RedirectResponse(f"/admin/r/{quote(request.query_params.get('realm', 'root'), safe='')}/overview",
                            status_code=303)


def console_routes() -> list[BaseRoute]:
    static = StaticFiles(directory=str(Path(__file__).parent.parent / "static"))
    return [
        Route("/admin", home), Route("/admin/", home), Route("/admin/switch", switch),
        Route("/admin/login", login_page, methods=GET_POST),
        Route("/admin/logout", page(_sign_out), methods=["POST"]),
        Mount("/admin/static", app=static),
        Route("/admin/realms", page(settings.realms_page), methods=GET_POST),
        Route("/admin/account", page(other.account_page), methods=GET_POST),
        Route(accounts.PATH, page(accounts.service_accounts_page), methods=GET_POST),
        Route(f"{accounts.PATH}/tokens/{{token_id}}/revoke", page(accounts.revoke_token), methods=["POST"]),
        Route(f"{accounts.PATH}/{{name}}/enabled", page(accounts.set_enabled), methods=["POST"]),
        Route(f"{accounts.PATH}/{{name}}/secret", page(accounts.new_secret), methods=["POST"]),
        Route(f"{accounts.PATH}/{{name}}/delete", page(accounts.delete), methods=["POST"]),
        Route("/admin/realms/{realm}/delete", page(settings.delete_realm), methods=["POST"]),
        Route(R, page(other.overview_page)),
        Route(f"{R}/overview", page(other.overview_page)),
        Route(f"{R}/settings", page(settings.settings_page), methods=GET_POST),
        Route(f"{R}/scripts", page(scripts.scripts_page)),
        Route(f"{R}/scripts/new", page(scripts.new_script), methods=GET_POST),
        Route(f"{R}/scripts/{{key}}/delete", page(scripts.delete_script), methods=["POST"]),
        Route(f"{R}/scripts/{{script_id}}", page(scripts.edit_script), methods=GET_POST),
        Route(f"{R}/applications", page(clients.applications_page)),
        Route(f"{R}/applications/new", page(clients.new_application), methods=GET_POST),
        Route(f"{R}/applications/{{key}}/delete", page(clients.delete_application), methods=["POST"]),
        Route(f"{R}/applications/{{client_id}}/secret", page(clients.regenerate_secret), methods=["POST"]),
        Route(f"{R}/applications/{{client_id}}", page(clients.edit_application), methods=GET_POST),
        Route(f"{R}/agents", page(clients.agents_page)),
        Route(f"{R}/agents/new", page(clients.new_agent), methods=GET_POST),
        Route(f"{R}/agents/{{key}}/delete", page(clients.delete_agent), methods=["POST"]),
        Route(f"{R}/agents/{{client_id}}/policies/{{application_id}}/delete", page(clients.delete_policy),
              methods=["POST"]),
        Route(f"{R}/agents/{{client_id}}/secret", page(clients.regenerate_secret), methods=["POST"]),
        Route(f"{R}/agents/{{client_id}}", page(clients.edit_agent), methods=GET_POST),
        Route(f"{R}/users", page(other.users_page), methods=GET_POST),
        Route(f"{R}/users/{{key}}/delete", page(other.delete_user), methods=["POST"]),
        Route(f"{R}/users/{{key}}/active", page(other.toggle_user), methods=["POST"]),
        Route(f"{R}/users/{{user_id}}/grants/{{client_id}}/revoke", page(other.revoke_grant), methods=["POST"]),
        Route(f"{R}/users/{{user_id}}/password", page(other.reset_password), methods=["POST"]),
        Route(f"{R}/users/{{user_id}}/tokens/{{jti}}/revoke", page(other.revoke_user_token), methods=["POST"]),
        Route(f"{R}/users/{{user_id}}", page(other.edit_user), methods=GET_POST),
        Route(f"{R}/groups/{{key}}/delete", page(other.delete_group), methods=["POST"]),
        Route(f"{R}/dynamic", page(other.dynamic_page)),
        Route(f"{R}/dynamic/{{key}}/delete", page(other.delete_dynamic), methods=["POST"]),
        Route(f"{R}/dynamic/{{client_id}}/tokens/{{jti}}/revoke", page(other.revoke_client_token), methods=["POST"]),
        Route(f"{R}/dynamic/{{client_id}}", page(other.dynamic_client)),
        Route(f"{R}/initial-access", page(onboarding.initial_access_page), methods=GET_POST),
        Route(f"{R}/initial-access/{{token_id}}/revoke", page(onboarding.revoke), methods=["POST"]),
        Route(f"{R}/keys", page(other.keys_page), methods=GET_POST),
        Route(f"{R}/audit", page(other.audit_page)),
        Route(f"{R}/audit.jsonl", page(other.audit_export)),
    ]


def _sign_out(p: Page) -> Response:
    logout(p.services, p.token)
    response = RedirectResponse("/admin/login", status_code=303)
    clear_session(response)
    return response
