"""The admin API plumbing: authentication, JSON in and out, errors that name the field."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from credo.admin.session import csrf_ok, session_token
from credo.admin.web import json_response, read_body, services_of
from credo.domain.errors import AccessDenied, InvalidRequest, InvalidToken, OAuthError, TooManyRequests
from credo.management.admins import authenticate
from credo.management.messages import says, where
from credo.oauth.services import Services

SAFE_METHODS = ("GET", "HEAD")


class UnsupportedMediaType(InvalidRequest):
    """A request body that is not application/json: 415, as the public endpoints answer (RFC 9110 §15.5.16)."""

    status = 415


@dataclass
class Call:
    request: Request
    services: Services
    actor: str
    body: dict[str, Any]

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


@dataclass(frozen=True)
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


def actor_of(request: Request, services: Services) -> str:
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return authenticate(services, auth[7:].strip())
    token = session_token(services, request)
    if token is None:
        raise InvalidToken("no admin credentials", description="An administrator token is required.")
    actor = authenticate(services, token, channel="console")
    if request.method not in SAFE_METHODS and not csrf_ok(services, token, request.headers.get("x-csrf-token")):
        raise AccessDenied("csrf", description="A valid X-CSRF-Token header is required with a session cookie.")
    return actor


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


def endpoint(handler: Handler, *, status: int = 200, public: bool = False) -> Callable[[Request], Awaitable[Response]]:
    async def run(request: Request) -> Response:
        services = services_of(request)
        try:
            actor = "anonymous" if public else actor_of(request, services)
            call = Call(request, services, actor, await json_body(request))
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
