"""My account (the applications and agents a signed-in user allowed, with a Revoke button each) and
sign-out (OpenID Connect RP-Initiated Logout 1.0: `end_session_endpoint`)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from credo.http.authorize import account_signin, csrf_valid, current_session, endpoint_url, read_params
from credo.http.context import realm_of, services_of
from credo.http.forms import RequestHeaders, read_form
from credo.http.pages import SESSION_COOKIE, Page
from credo.oauth.authorization import revoke_consent
from credo.oauth.oidc import id_token_hint, logout_redirect
from credo.oauth.sessions import end_session

LOGOUT_FIELDS = ("client_id", "post_logout_redirect_uri", "state", "id_token_hint")


async def account(request: Request, headers: RequestHeaders) -> Response:
    realm = realm_of(request)
    page, session = Page(request, realm), current_session(request, realm)
    if session is None:
        return account_signin(page, "")
    services = services_of(request)
    grants = []
    for consent in services.storage.consents.for_user(realm.name, session.user.id):
        client = services.client(realm.name, consent.client_id)
        grants.append({"client_id": consent.client_id, "name": (client.name if client else "") or consent.client_id,
                       "agent": bool(client and client.is_agent), "scopes": consent.scopes,
                       "resources": consent.resources})
    return page.html("account.html", title="My account", user=session.user.username, grants=grants,
                     notice="",
                     revoke_action=endpoint_url(realm, request, "account/revoke"),
                     logout_action=endpoint_url(realm, request, "connect/endSession"))


async def revoke(request: Request, headers: RequestHeaders) -> Response:
    realm = realm_of(request)
    page, form = Page(request, realm), await read_form(request, headers)
    if not csrf_valid(request, realm, form):
        return page.problem("Nothing was revoked", "This form has expired or was sent from another site.", 403,
                            "invalid_request")
    session = current_session(request, realm)
    if session is None:
        return account_signin(page, "")
    revoke_consent(services_of(request), realm, session.user.id, form.params.get("client_id") or "")
    return page.redirect(endpoint_url(realm, request, "account"))


async def end_session_endpoint(request: Request, headers: RequestHeaders) -> Response:
    """Sign out at once with a valid `id_token_hint` for the signed-in user (or none signed in); otherwise
    after the user confirms (a form with a CSRF token). Redirects only to a URI the client registered."""
    realm = realm_of(request)
    page, form = Page(request, realm), await read_params(request, headers)
    services, params = services_of(request), form.params
    hint = id_token_hint(services, realm, params.get("id_token_hint"))
    client_id = params.get("client_id") or (str(hint["aud"]) if hint and isinstance(hint.get("aud"), str) else "")
    if hint is not None and params.get("client_id") and hint.get("aud") != params.get("client_id"):
        return page.problem("Sign-out not completed", "The sign-out request names two different applications.")
    wanted = params.get("post_logout_redirect_uri")
    client = services.client(realm.name, client_id) if client_id and len(client_id) <= 255 else None
    target = logout_redirect(client, wanted)
    if wanted is not None and target is None:
        return page.problem("Sign-out not completed",
                            "The application asked to return you to an address it has not registered.")
    session = current_session(request, realm)
    confirmed = request.method == "POST" and csrf_valid(request, realm, form)
    hinted = hint is not None and (session is None or session.user.id == hint.get("sub"))
    if not (confirmed or hinted or session is None):
        return page.html("logout.html", title="Sign out", done=False, user=session.user.username,
                         action=endpoint_url(realm, request, "connect/endSession"),
                         hidden=[(k, params[k]) for k in LOGOUT_FIELDS if k in params], form_targets=[target or ""])
    end_session(services, session)
    if target is not None:
        response = page.redirect(target, {"state": params["state"]} if "state" in params else None)
    else:
        response = page.html("logout.html", title="Signed out", done=True)
    page.clear_cookie(response, SESSION_COOKIE)
    return response
