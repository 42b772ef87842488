"""The application: one dispatcher for the whole public URL space, the admin surfaces mounted under
`/admin`, and the middleware added with `add_middleware` around both.

Every request takes the same path:

    middleware (add_middleware, outermost first)
      → CredoApp.dispatch:
          `/admin` and `/admin/...`      → the admin application (Starlette: its own routes, 404, 405, redirects)
          anything else is public:
          1. one trailing slash dropped   `.../register/` is `.../register` (never a redirect); a path still
                                          ending with `/` (`.../register//`) names no endpoint: 404 `not_found`
          2. endpoint and path parameters the realm prefix parsed once (routes.REALM_PREFIX, ROOT_PREFIXES,
                                          the host-level paths); no endpoint (any other path, `/am/oauth2`
                                          itself included): 404 `not_found`
          3. handler                      routes.TABLE[(endpoint, method)]; another method: 405 with `allow`
          4. cross-cutting steps          STEPS, in order: the request's arrival mark, then (PostgreSQL) one
                                          yield so the requests dispatched together mark theirs, and one
                                          counter read for them, awaited on the loop (which serves other
                                          requests while it travels)
          5. the request parsed once      forms.request_headers: media type, length, Basic, Bearer
          6. handler(request, headers)    any exception rendered by the one renderer (errors.HANDLERS)
          7. observer.record              after the answer is sent: the request metrics and the access-log
                                          line (http/operations.py), for every public request (404s too)

Before step 1, the host-root operations paths (`/health/live`, `/health/ready`, the metrics path) are
one dictionary lookup; they are answered without the steps and are neither counted nor logged.

Telling an admin path from a public one is one prefix comparison: no public request walks the admin
route table, and the public table is a dictionary lookup.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from time import perf_counter
from typing import Any, ParamSpec

from starlette.datastructures import State
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware, _MiddlewareFactory
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from credo.domain.errors import NotFound
from credo.http.forms import request_headers
from credo.http.operations import TOKEN_KEY, Observer, Operation
from credo.http.routes import (
    ALLOW,
    CLIENT_ID,
    CORS_ENDPOINTS,
    OPENAPI_PATH,
    REALM_PREFIX,
    ROOT_PREFIXES,
    TABLE,
    UNDER_REALM,
    Handler,
)
from credo.http.wellknown import DOCUMENTS, well_known
from credo.storage.cached import CachedStorage, begin_request

P = ParamSpec("P")
ExceptionHandler = Callable[[Request, Exception], Awaitable[Response]]
Step = Callable[["CredoApp"], Awaitable[None]]

ADMIN_PREFIX = "/admin"
UNKNOWN = "unknown"  # the endpoint label of a path that names none
ADMIN = "admin"  # the endpoint label of every request to the admin application
PUBLIC_PREFIXES = ("/am/oauth2/", "/.well-known/")  # where a trailing slash names the same endpoint


async def mark_arrival(_app: CredoApp) -> None:
    begin_request()  # the record cache may use a change-counter read sent after this instant


async def gather_arrivals(app: CredoApp) -> None:
    storage = app.state.services.storage
    if storage.counter_round_trip:
        await asyncio.sleep(0)  # the requests dispatched with this one mark their arrival too
        if isinstance(storage, CachedStorage):
            await storage.cache.read_after_arrival()  # one counter read for them, the loop serving meanwhile


STEPS: tuple[Step, ...] = (mark_arrival, gather_arrivals)


CORS_HEADERS = [(b"access-control-allow-origin", b"*"),
                (b"access-control-expose-headers", b"www-authenticate, retry-after, location, dpop-nonce")]


def preflight(allow: str) -> Response:
    """The answer to a CORS preflight for an endpoint browsers may fetch (routes.CORS_ENDPOINTS): any
    origin, no credentials (cookies are never needed there), the endpoint's methods."""
    return Response(status_code=204, headers={
        "access-control-allow-origin": "*", "access-control-allow-methods": allow,
        "access-control-allow-headers": "authorization, content-type, dpop", "access-control-max-age": "600"})


def without_trailing_slash(scope: Scope) -> Scope:
    """The scope for the same public path without one trailing slash (the scope itself otherwise)."""
    path: str = scope["path"]
    if path[-1:] != "/" or not path.startswith(PUBLIC_PREFIXES) or path in PUBLIC_PREFIXES:
        return scope
    stripped = {**scope, "path": path[:-1]}
    raw: bytes | None = scope.get("raw_path")
    if raw is not None and raw.endswith(b"/"):
        stripped["raw_path"] = raw[:-1]
    return stripped


def _under_realm(rest: str, params: dict[str, str]) -> tuple[str, dict[str, str]] | None:
    if rest in UNDER_REALM:
        return rest, params
    head, _, client_id = rest.partition("/")
    if head == "register" and client_id and "/" not in client_id:
        return CLIENT_ID, {**params, "client_id": client_id}
    return None


def resolve(path: str, method: str) -> tuple[str, dict[str, str]] | None:
    """The table endpoint and path parameters for a public path, None when it names no endpoint.
    `openapi.json` is the host-level description for GET and HEAD; for any other method the path is
    the root realm's, where it names no endpoint (404, not 405)."""
    if path == OPENAPI_PATH and (OPENAPI_PATH, method) in TABLE:
        return OPENAPI_PATH, {}
    if path.startswith(REALM_PREFIX):
        realm, slash, rest = path[len(REALM_PREFIX):].partition("/")
        if realm and slash:
            return _under_realm(rest, {"realm": realm})
    for prefix in ROOT_PREFIXES:
        if path.startswith(prefix):
            return _under_realm(path[len(prefix):], {})
    return well_known(path)


def _unknown(path: str) -> Exception:
    """The 404 for a path that names no endpoint; a discovery document asked for at the host's root says
    where the realms' documents are (each realm is its own issuer)."""
    if path in DOCUMENTS:
        return NotFound(f"discovery at the host root: {path}", description=(
            f"Discovery documents are per realm: {REALM_PREFIX}{{realm}}/.well-known/openid-configuration, "
            f"or RFC 8414's {path}{REALM_PREFIX}{{realm}} (the root realm: /am/oauth2/...)."))
    return HTTPException(404)


class CredoApp:
    """The ASGI application. `state` is shared with the admin application; `add_middleware` works as
    Starlette's (the last added runs first) and its middleware sees every request."""

    def __init__(self, *, admin: ASGIApp | None = None,
                 exception_handlers: Mapping[Any, Any] | None = None) -> None:
        self.state = State()
        self.admin = admin
        self.exception_handlers: dict[Any, ExceptionHandler] = dict(exception_handlers or {})
        self.user_middleware: list[Middleware] = []
        self.middleware_stack: ASGIApp | None = None
        self.operations: dict[str, Operation] = {}  # host-root paths answered first (http/operations.py)
        self.observer: Observer | None = None  # counts and logs every public request (http/operations.py)
        self.on_shutdown: list[Callable[[], None]] = []  # run off the loop when the server stops (lifespan)

    def add_middleware(self, middleware_class: _MiddlewareFactory[P], *args: P.args, **kwargs: P.kwargs) -> None:
        if self.middleware_stack is not None:
            raise RuntimeError("Cannot add middleware after an application has started")
        self.user_middleware.insert(0, Middleware(middleware_class, *args, **kwargs))

    def build_middleware_stack(self) -> ASGIApp:
        app: ASGIApp = self.dispatch
        for cls, args, kwargs in reversed(self.user_middleware):
            app = cls(app, *args, **kwargs)
        return app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = self
        if self.middleware_stack is None:
            self.middleware_stack = self.build_middleware_stack()
        await self.middleware_stack(scope, receive, send)

    async def dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if self.admin is not None and (path == ADMIN_PREFIX or path.startswith("/admin/")):
            if self.observer is not None and scope["type"] == "http":
                await self._observed_admin(self.admin, self.observer, scope, receive, send)
            else:
                await self.admin(scope, receive, send)
            return
        if scope["type"] != "http":
            await self._not_http(scope, receive, send)
            return
        operation = self.operations.get(path)
        if operation is not None:  # /health/live, /health/ready, the metrics path: neither counted nor logged
            await self._send(await operation(Request(scope, receive)), send)
            return
        started = perf_counter()
        scope = without_trailing_slash(scope)  # 1
        endpoint, response, error = await self._public(scope, receive)
        await self._send(response, send)
        if self.observer is not None:  # 7: metrics and the access-log line, once the answer is sent
            self.observer.record(scope, endpoint, response.status_code, error, started)

    async def _public(self, scope: Scope, receive: Receive) -> tuple[str, Response, Exception | None]:
        """(the endpoint's name, the answer, the error it renders) for a public request."""
        hit = resolve(scope["path"], scope["method"])  # 2 (a path still ending with "/" resolves to nothing)
        request = Request(scope, receive)
        if hit is None:
            error: Exception = _unknown(scope["path"])
            return UNKNOWN, await self._render(request, error), error
        endpoint, scope["path_params"] = hit
        handler: Handler | None = TABLE.get((endpoint, scope["method"]))  # 3
        if handler is None and scope["method"] == "OPTIONS" and endpoint in CORS_ENDPOINTS:
            return endpoint, preflight(ALLOW[endpoint]), None
        if handler is None:
            error = HTTPException(405, headers={"Allow": ALLOW[endpoint]})
            return endpoint, await self._render(request, error), error
        scope["endpoint"] = handler  # as a router sets it (refusal logs name the endpoint)
        for step in STEPS:  # 4
            await step(self)
        headers = request_headers(scope)
        if headers.bearer is not None:
            scope[TOKEN_KEY] = headers.bearer.value  # the access log keeps only a prefix of its hash
        raised: Exception | None = None
        try:
            response = await handler(request, headers)  # 5, 6
        except Exception as exc:  # rendered by the registered handlers
            response = await self._render(request, exc)
            raised = exc
        if headers.origin and endpoint in CORS_ENDPOINTS:
            response.raw_headers.extend(CORS_HEADERS)
        return endpoint, response, raised

    @staticmethod
    async def _observed_admin(admin: ASGIApp, observer: Observer, scope: Scope, receive: Receive, send: Send) -> None:
        """The admin application's request, counted and logged like a public one (endpoint `admin`)."""
        started, status = perf_counter(), 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await admin(scope, receive, sending)
        finally:
            observer.record(scope, ADMIN, status, None, started)

    @staticmethod
    async def _send(response: Response, send: Send) -> None:
        await send({"type": "http.response.start", "status": response.status_code, "headers": response.raw_headers})
        await send({"type": "http.response.body", "body": response.body})

    async def _render(self, request: Request, exc: Exception) -> Response:
        for cls in type(exc).__mro__:
            handler = self.exception_handlers.get(cls)
            if handler is not None:
                return await handler(request, exc)
        raise exc

    async def _not_http(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":  # nothing to start; `on_shutdown` when the server stops
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    for callback in self.on_shutdown:
                        try:
                            await asyncio.to_thread(callback)
                        except Exception:  # the server stops anyway; say what was not done
                            logging.getLogger("credo").exception("a shutdown step failed")
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        elif scope["type"] == "websocket":  # no public websocket endpoint: closed, as a router does
            await send({"type": "websocket.close", "code": 1000, "reason": ""})
