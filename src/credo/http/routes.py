"""The public endpoint table: `(endpoint, method) -> handler`, for the dispatcher (credo.http.dispatch).

An endpoint is either a path under a realm prefix (`access_token`, `register/{client_id}`; a realm serves
each of them under the three prefixes below), or a path at the host's root (it starts with `/`; the
well-known documents of wellknown.py take an issuer path in place of `{issuer}`). A GET endpoint answers
HEAD too, as Starlette's routes do.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from credo.http import (
    account,
    authorize,
    discovery,
    introspect,
    openapi_public,
    register,
    revoke,
    token,
    tokeninfo,
    userinfo,
)
from credo.http.forms import RequestHeaders
from credo.http.wellknown import DOCUMENTS, ISSUER

Handler = Callable[[Request, RequestHeaders], Awaitable[Response]]

REALM_PREFIX = "/am/oauth2/realms/root/realms/"  # + {realm}/ + endpoint
ROOT_PREFIXES = ("/am/oauth2/realms/root/", "/am/oauth2/")  # + endpoint, in the root realm
OPENAPI_PATH = "/am/oauth2/openapi.json"
CLIENT_ID = "register/{client_id}"

REALM_ENDPOINTS: list[tuple[str, Handler, tuple[str, ...]]] = [
    (".well-known/openid-configuration", discovery.discovery, ("GET",)),
    (".well-known/oauth-authorization-server", discovery.discovery, ("GET",)),
    ("connect/jwk_uri", discovery.jwks, ("GET",)),
    ("access_token", token.token, ("POST",)),
    ("introspect", introspect.introspect, ("POST",)),
    ("tokeninfo", tokeninfo.tokeninfo, ("GET", "POST")),
    ("token/revoke", revoke.revoke, ("POST",)),
    ("register", register.register_client, ("POST", "GET", "PUT", "DELETE")),
    (CLIENT_ID, register.manage, ("GET", "PUT", "DELETE")),
    ("aiagent/register", register.register_agent, ("POST",)),
    ("authorize", authorize.authorize, ("GET", "POST")),
    ("signin", authorize.signin, ("POST",)),
    ("consent", authorize.consent, ("POST",)),
    ("userinfo", userinfo.userinfo, ("GET", "POST")),
    ("account", account.account, ("GET",)),
    ("account/revoke", account.revoke, ("POST",)),
    ("connect/endSession", account.end_session_endpoint, ("GET", "POST")),
]
HOST_ENDPOINTS: list[tuple[str, Handler, tuple[str, ...]]] = [
    (OPENAPI_PATH, openapi_public.openapi, ("GET",)),
    *((document + ISSUER, discovery.discovery, ("GET",)) for document in DOCUMENTS),
]
ENDPOINTS = [*REALM_ENDPOINTS, *HOST_ENDPOINTS]
# What a client running in a browser (a single-page app, the MCP Inspector) calls with fetch(): answered to
# any origin (CORS, no cookies: these endpoints take credentials only in headers or the body). The
# pages (authorize, sign-in, consent, account, sign-out) are navigated to, never fetched.
CORS_ENDPOINTS = frozenset({
    ".well-known/openid-configuration", ".well-known/oauth-authorization-server", "connect/jwk_uri",
    "access_token", "token/revoke", "register", CLIENT_ID, "userinfo",
    *(document + ISSUER for document in DOCUMENTS)})
UNDER_REALM = frozenset(endpoint for endpoint, _, _ in REALM_ENDPOINTS if endpoint != CLIENT_ID)  # fixed paths


def _with_head(methods: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(m for method in methods for m in ((method, "HEAD") if method == "GET" else (method,)))


TABLE: dict[tuple[str, str], Handler] = {
    (endpoint, method): handler for endpoint, handler, methods in ENDPOINTS for method in _with_head(methods)}
ALLOW: dict[str, str] = {endpoint: ", ".join(_with_head(methods)) for endpoint, _, methods in ENDPOINTS}
