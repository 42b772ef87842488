"""The browser endpoints of a realm: /authorize, the sign-in and consent forms, My account, sign-out.

Each handler parses the request once, asks the core (oauth/authorization.py, oauth/sessions.py) what to
do and renders the answer: a page (pages.py), or a redirect to the client's verified redirect URI."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from credo.domain.errors import AccessDenied, InvalidGrant, TooManyRequests
from credo.domain.models import Client, Realm
from credo.http.context import realm_of, services_of, source_ip
from credo.http.forms import Form, RequestHeaders, query_params, read_form
from credo.http.pages import CSRF_COOKIE, SESSION_COOKIE, Page, cookie_name
from credo.oauth.authorization import (
    AuthorizationRequest,
    NoRedirect,
    RedirectError,
    error_params,
    issue_code,
    next_step,
    response_params,
    validate_request,
)
from credo.oauth.client_documents import is_document_client
from credo.oauth.oidc import scope_description
from credo.oauth.sessions import Session, authenticate_user, csrf_ok, read_session, start_session
from credo.storage.unit_of_work import UnitOfWork

FORM_FIELDS = frozenset({"csrf", "username", "password", "decision", "flow"})  # ours, not the client's
BAD_FORM = "This form has expired or was sent from another site. Go back to the application and start again."


def endpoint_url(realm: Realm, request: Request, endpoint: str) -> str:
    return f"{services_of(request).base_url}{realm.url_path}/{endpoint}"


def current_session(request: Request, realm: Realm) -> Session | None:
    return read_session(services_of(request), realm, request.cookies.get(cookie_name(SESSION_COOKIE, realm)))


async def read_params(request: Request, headers: RequestHeaders) -> Form:
    return query_params(request.scope) if request.method in ("GET", "HEAD") else await read_form(request, headers)


def csrf_valid(request: Request, realm: Realm, form: Form) -> bool:
    cookie = request.cookies.get(cookie_name(CSRF_COOKIE, realm))
    return csrf_ok(services_of(request), realm, cookie, form.params.get("csrf"))


def _hidden(form: Form) -> list[tuple[str, str]]:
    """The authorization request's parameters, carried by the sign-in and consent forms."""
    fields = [(k, v) for k, v in form.params.items() if k not in FORM_FIELDS and k != "resource"]
    return fields + [("resource", r) for r in form.resources]


async def authorize(request: Request, headers: RequestHeaders) -> Response:
    realm = realm_of(request)
    page, form = Page(request, realm), await read_params(request, headers)
    try:
        auth = await validate_request(services_of(request), realm, form.params, form.resources)
    except (NoRedirect, RedirectError) as exc:
        return _refused(page, exc)
    return await _proceed(page, form, auth, current_session(request, realm))


def _respond(page: Page, request: AuthorizationRequest, params: dict[str, str]) -> Response:
    if request.response_mode == "form_post":
        return page.form_post(request.redirect_uri, params)
    return page.redirect(request.redirect_uri, params)


def _refused(page: Page, exc: NoRedirect | RedirectError) -> Response:
    """An unusable authorization request: shown on a page (client or redirect URI not trusted), or sent
    back to the client."""
    if isinstance(exc, NoRedirect):
        return page.problem("This sign-in request cannot be completed", exc.message, 400, "invalid_request")
    return _respond(page, exc.request, error_params(services_of(page.request), exc))


async def _proceed(page: Page, form: Form, auth: AuthorizationRequest, session: Session | None, *,
                   signed_in_now: bool = False, consented: bool = False, error: str = "",
                   status: int = 200) -> Response:
    """The next page of a validated authorization request, or the code sent back to the client."""
    services = services_of(page.request)
    try:
        step = next_step(services, auth, session, signed_in_now=signed_in_now)
    except RedirectError as exc:
        return _refused(page, exc)
    if step.kind == "login":
        return page.html("signin.html", status, form_targets=(auth.redirect_uri,), title="Sign in",
                         client_name=auth.client.name or auth.client.client_id, error=error,
                         username=form.params.get("username") or auth.login_hint, hidden=_hidden(form),
                         action=endpoint_url(page.realm, page.request, "signin"))
    assert session is not None
    if step.kind == "consent" and not consented:
        return page.html("consent.html", form_targets=(auth.redirect_uri,), title="Allow access?",
                         client_name=auth.client.name or auth.client.client_id, agent=auth.client.is_agent,
                         user=session.user.username, redirect_host=_host(auth.redirect_uri),
                         document_host=document_host(auth.client),
                         scopes=[(s, scope_description(page.realm, s)) for s in auth.scopes],
                         resources=auth.resources, hidden=_hidden(form),
                         action=endpoint_url(page.realm, page.request, "consent"))
    work = UnitOfWork()
    code = issue_code(services, auth, session, work)
    await services.commit(work)
    return _respond(page, auth, response_params(services, auth, {"code": code}))


def document_host(client: Client) -> str | None:
    """The host that published a Client ID Metadata Document client's registration: the consent page
    shows it, since the name in the document is the client's own claim."""
    return urlsplit(client.client_id).hostname if is_document_client(client) else None


def _host(uri: str) -> str:
    parts = urlsplit(uri)
    return parts.netloc or f"{parts.scheme}:"


async def signin(request: Request, headers: RequestHeaders) -> Response:
    """POST of the sign-in form: for an authorization request, or for My account (`flow=account`)."""
    realm = realm_of(request)
    page, form = Page(request, realm), await read_form(request, headers)
    if not csrf_valid(request, realm, form):
        return page.problem("Sign-in not completed", BAD_FORM, 403, "invalid_request")
    services = services_of(request)
    auth = None
    if form.params.get("flow") != "account":
        try:  # an unusable authorization request is refused before any password is checked
            auth = await validate_request(services, realm, form.params, form.resources)
        except (NoRedirect, RedirectError) as exc:
            return _refused(page, exc)
    try:
        user = await authenticate_user(services, realm, form.params.get("username") or "",
                                       form.params.get("password") or "", source_ip(request))
    except (InvalidGrant, TooManyRequests) as exc:
        status = 429 if isinstance(exc, TooManyRequests) else 401
        message = "Too many failed sign-ins. Wait a minute and try again." if status == 429 else exc.description
        if auth is None:
            return account_signin(page, form.params.get("username") or "", message, status)
        return await _proceed(page, form, auth, None, error=message, status=status)
    work = UnitOfWork()
    value = start_session(services, realm, user, current_session(request, realm), work)
    await services.commit(work)
    if auth is None:
        response = page.redirect(endpoint_url(realm, request, "account"))
    else:
        response = await _proceed(page, form, auth, read_session(services, realm, value), signed_in_now=True)
    page.set_cookie(response, SESSION_COOKIE, value, max_age=realm.settings.session_lifetime)
    return response


async def consent(request: Request, headers: RequestHeaders) -> Response:
    """POST of the consent form: Allow issues the code, Deny sends `access_denied` back."""
    realm = realm_of(request)
    page, form = Page(request, realm), await read_form(request, headers)
    if not csrf_valid(request, realm, form):
        return page.problem("Access not granted", BAD_FORM, 403, "invalid_request")
    services = services_of(request)
    try:
        auth = await validate_request(services, realm, form.params, form.resources)
    except (NoRedirect, RedirectError) as exc:
        return _refused(page, exc)
    if form.params.get("decision") == "allow":
        return await _proceed(page, form, auth, current_session(request, realm), consented=True)
    return _refused(page, RedirectError(auth, AccessDenied("the user denied consent",
                                                           description="The user denied the request.")))


def account_signin(page: Page, username: str, error: str = "", status: int = 200) -> Response:
    return page.html("signin.html", status, title="Sign in", client_name="", error=error, username=username,
                     hidden=[("flow", "account")], action=endpoint_url(page.realm, page.request, "signin"))
