"""The hot endpoints, dispatched without walking the route table and middleware stack.

`POST .../access_token`, `POST .../introspect` and `POST .../register` are most of the traffic of an
authorization server for agents. For them the application matches the path itself, builds the same
`Request` and calls the same handler functions as the router would, and renders errors with the same
exception handlers; everything else
(other paths, other methods, other protocols) goes through Starlette unchanged. The saving is the
generic routing (three mounts, regular expressions) and the per-request middleware wrappers.

Before either, a public path with one trailing slash (`.../register/`, `.../access_token/`) is served
as the path without it: the same endpoint answers, where Starlette would redirect (307), which a
client that does not follow redirects for POST takes for a failure. A public path that still ends with
a slash after that (`.../register//`) names no endpoint: it answers 404 `not_found`, exactly as an
unknown path does, instead of Starlette's redirect. The admin paths keep Starlette's behaviour.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from credo.http import introspect, register, token
from credo.storage.cached import begin_request

Handler = Callable[[Request], Awaitable[Response]]
ExceptionHandler = Callable[[Request, Exception], Awaitable[Response]]

HOT_ENDPOINTS: dict[str, Handler] = {
    "access_token": token.token,
    "introspect": introspect.introspect,
    "register": register.register_client,  # POST only here; RFC 7592 reads and updates go through the router
}
REALM_PREFIX = "/am/oauth2/realms/root/realms/"
ROOT_PREFIXES = ("/am/oauth2/realms/root/", "/am/oauth2/")
PUBLIC_PREFIXES = ("/am/oauth2/", "/.well-known/")  # where a trailing slash names the same endpoint


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


def empty_last_segment(path: str) -> bool:
    """A public path ending with a slash once one trailing slash is gone (`.../register//`): no endpoint."""
    return path[-1:] == "/" and path.startswith(PUBLIC_PREFIXES)


def match(path: str) -> tuple[Handler, dict[str, str]] | None:
    """The handler and path parameters for a hot endpoint path, as the route table would find them."""
    head, _, last = path.rpartition("/")
    handler = HOT_ENDPOINTS.get(last)
    if handler is None:
        return None
    prefix = head + "/"
    if prefix.startswith(REALM_PREFIX):
        realm = prefix[len(REALM_PREFIX):-1]
        if realm and "/" not in realm:
            return handler, {"realm": realm}
        return None
    if prefix in ROOT_PREFIXES:
        return handler, {}
    return None


class CredoApp(Starlette):
    """Starlette with the fast lane in front of its router."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope = without_trailing_slash(scope)
            if empty_last_segment(scope["path"]):  # the router would redirect (307); answer as for any unknown path
                scope["app"] = self
                request = Request(scope, receive)
                response = await self._render(request, HTTPException(404))
                await response(scope, receive, send)
                return
        if scope["type"] == "http" and scope["method"] == "POST":
            hit = match(scope["path"])
            if hit is not None:
                scope["app"] = self
                scope["path_params"] = hit[1]
                scope["endpoint"] = hit[0]  # as the router sets it (refusal logs name the endpoint)
                begin_request()
                if self.state.services.storage.counter_round_trip:
                    await asyncio.sleep(0)  # the requests dispatched with this one mark their arrival too
                await self._fast(hit[0], Request(scope, receive), send)
                return
        await super().__call__(scope, receive, send)

    async def _fast(self, handler: Handler, request: Request, send: Send) -> None:
        try:
            response = await handler(request)
        except Exception as exc:  # rendered by the registered handlers, as the middleware stack would
            response = await self._render(request, exc)
        await send({"type": "http.response.start", "status": response.status_code, "headers": response.raw_headers})
        await send({"type": "http.response.body", "body": response.body})

    async def _render(self, request: Request, exc: Exception) -> Response:
        handlers: dict[Any, ExceptionHandler] = self.exception_handlers
        for cls in type(exc).__mro__:
            handler = handlers.get(cls)
            if handler is not None:
                return await handler(request, exc)
        raise exc
