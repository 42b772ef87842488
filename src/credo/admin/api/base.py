"""The admin API plumbing: authentication, JSON in and out, errors that name the field."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from credo.admin.session import csrf_ok, session_token
from credo.admin.web import json_response, read_body, services_of
from credo.domain.errors import (
    AccessDenied,
    InsufficientScope,
    InvalidRequest,
    InvalidToken,
    OAuthError,
    TooManyRequests,
)
from credo.domain.values import value_object
from credo.management.admins import authenticate
from credo.management.messages import says, where
from credo.management.service_accounts import ADMIN_READ, ADMIN_WRITE, Principal, administrator, principal_of
from credo.oauth.services import Services

SAFE_METHODS = ("GET", "HEAD")


class UnsupportedMediaType(InvalidRequest):
    """A request body that is not application/json: 415, as the public endpoints answer (RFC 9110 §15.5.16)."""

    status = 415


# What a route touches, for the one access check every admin API request passes (`authorize`):
# "realm": the realm in its path; "realms": the list of realms (each caller sees the ones it may touch);
# "new_realm": the realm named in the body (creating one); "accounts": service accounts and admin tokens,
# for administrators only; "public": nothing (the token endpoint).
Access = Literal["realm", "realms", "new_realm", "accounts", "public"]


@dataclass
class Call:
    request: Request
    services: Services
    principal: Principal
    body: dict[str, Any]

    @property
    def actor(self) -> str:
        """The name every change is audited under: the administrator's or the service account's."""
        return self.principal.name

    def path(self, name: str) -> str:
        return str(self.request.path_params[name])

    @property
    def realm(self) -> str:
        name = self.path("realm")
        self.services.realm(name)  # 404 when missing
        return name

    def query(self, name: str) -> str | None:
        value = self.request.query_params.get(name)
        return value or None


Handler = Callable[[Call], Any]


@value_object
class Tagged:
    """A handler's JSON result with its entity tag (sent as the ETag header)."""

    body: Any
    etag: str


def field_error(exc: OAuthError) -> Response:
    body: dict[str, Any] = {"error": exc.error, "error_description": exc.description}
    head = exc.description.split(":", 1)[0] if ":" in exc.description else ""
    if head and " " not in head:
        body["field"] = head
    headers = {"www-authenticate": exc.www_authenticate} if exc.www_authenticate else {}
    if isinstance(exc, TooManyRequests):
        headers["retry-after"] = str(exc.retry_after)
    return json_response(body, exc.status, headers)


def validation_error(exc: ValidationError) -> Response:
    first = exc.errors()[0]
    field = where(first) or "body"
    message = says(first)
    return json_response({"error": "invalid_request", "error_description": f"{field}: {message}", "field": field}, 400)


ANONYMOUS = Principal("anonymous", "service_account", frozenset(), ())


def principal_of_request(request: Request, services: Services) -> Principal:
    """The caller: a bearer token (an administrator's or a service account's), else the console's session
    cookie (with its CSRF header for a change)."""
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return principal_of(services, auth[7:].strip())
    token = session_token(services, request)
    if token is None:
        raise InvalidToken("no admin credentials", description="An administrator token is required.")
    actor = authenticate(services, token, channel="console")
    if request.method not in SAFE_METHODS and not csrf_ok(services, token, request.headers.get("x-csrf-token")):
        raise AccessDenied("csrf", description="A valid X-CSRF-Token header is required with a session cookie.")
    return administrator(actor)


def authorize(principal: Principal, request: Request, body: dict[str, Any], access: Access) -> None:
    """The one access check of the admin API: the scope for the method (admin:read to read, admin:write
    to change anything) and the realm the route touches. Administrators pass every check."""
    if access == "public":
        return
    needed = ADMIN_READ if request.method in SAFE_METHODS else ADMIN_WRITE
    if not principal.may(needed):
        raise InsufficientScope(f"{principal.name} lacks {needed}",
                                description=f"This service account may not do this: it needs the {needed} scope.")
    if access == "accounts" and principal.kind != "admin":
        raise AccessDenied("accounts", description="Only an administrator manages service accounts and admin tokens.")
    realm = request.path_params.get("realm") if access == "realm" else body.get("name") if access == "new_realm" \
        else None
    if access in ("realm", "new_realm") and not principal.may_realm(str(realm)):
        raise AccessDenied(f"{principal.name} may not touch realm {realm}",
                           description=f"realm: this service account may not touch realm '{realm}'.")


async def json_body(request: Request) -> dict[str, Any]:
    if request.method in SAFE_METHODS or request.method == "DELETE":
        return {}
    raw = await read_body(request)
    if not raw:
        return {}  # e.g. POST .../keys/rotate with no options
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        raise UnsupportedMediaType("not json", description="body: the request body must be application/json.")
    try:
        value = orjson.loads(raw or b"{}")
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest("bad json", description="body: not valid JSON.") from exc
    if not isinstance(value, dict):
        raise InvalidRequest("not an object", description="body: must be a JSON object.")
    return value


def endpoint(handler: Handler, *, access: Access, status: int = 200) -> Callable[[Request], Awaitable[Response]]:
    async def run(request: Request) -> Response:
        services = services_of(request)
        try:
            principal = ANONYMOUS if access == "public" else principal_of_request(request, services)
            body = await json_body(request)
            authorize(principal, request, body, access)
            call = Call(request, services, principal, body)
            result = await run_in_threadpool(handler, call)  # storage and argon2 block: keep the loop free
        except OAuthError as exc:
            return field_error(exc)
        except ValidationError as exc:
            return validation_error(exc)
        if result is None:
            return Response(status_code=204, headers={"cache-control": "no-store"})
        if isinstance(result, Tagged):
            return json_response(result.body, status, {"etag": result.etag})
        return json_response(result, status)

    run.access = access  # type: ignore[attr-defined]  # what the route touches (read by the route walk test)
    return run


def require(body: dict[str, Any], name: str, kind: type | tuple[type, ...] = str) -> Any:
    value = body.get(name)
    if value is None or not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        label = getattr(kind, "__name__", "value")
        raise InvalidRequest(f"missing {name}", description=f"{name}: required ({label}).")
    return value


def optional(body: dict[str, Any], name: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
    if name not in body or body[name] is None:
        return default
    value = body[name]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise InvalidRequest(f"bad {name}", description=f"{name}: wrong type.")
    if isinstance(value, list) and not all(isinstance(v, str) for v in value):
        raise InvalidRequest(f"bad {name}", description=f"{name}: must be a list of strings.")
    return value


def only(body: dict[str, Any], allowed: tuple[str, ...]) -> None:
    for key in body:
        if key not in allowed:
            raise InvalidRequest(f"unknown {key}", description=f"{key}: unknown field.")
