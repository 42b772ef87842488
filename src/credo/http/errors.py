"""Exception handlers: an OAuthError renders as RFC JSON; anything unexpected is a bare `server_error`
(the details go to the log, never to the client); an unreachable database is a 503; a client that went
away before its request was read is 499 (nginx's "client closed request": nobody reads it, but the
access log and the metrics say what happened, not a server error)."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from structlog.contextvars import bound_contextvars

from credo.domain.errors import OAuthError, ServiceUnavailable
from credo.http.responses import error_response, json_response
from credo.logs import log
from credo.storage.protocols import StorageUnavailable


async def oauth_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OAuthError)
    # The log line says where the refusal happened: the handler's name and the realm, never the raw
    # path or query (a query may carry a token).
    endpoint = getattr(request.scope.get("endpoint"), "__name__", "")
    with bound_contextvars(endpoint=endpoint, realm=request.path_params.get("realm", "root")):
        return error_response(exc)


async def storage_unavailable(_request: Request, exc: Exception) -> Response:
    err = ServiceUnavailable(str(exc))
    response = error_response(err)
    response.headers["retry-after"] = "1"
    return response


async def http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    codes = {404: "not_found", 405: "method_not_allowed"}
    return json_response({"error": codes.get(exc.status_code, "invalid_request"),
                          "error_description": str(exc.detail)}, exc.status_code, dict(exc.headers or {}))


CLIENT_CLOSED = 499


async def client_gone(_request: Request, _exc: Exception) -> Response:
    log.info("client_disconnected")
    return Response(status_code=CLIENT_CLOSED)


async def unexpected(_request: Request, exc: Exception) -> Response:
    log.error("unhandled_exception", exc_type=type(exc).__name__)
    return json_response({"error": "server_error", "error_description": "The server could not complete the request."},
                         500)


HANDLERS: dict[type[Exception] | int, object] = {
    OAuthError: oauth_error,
    StorageUnavailable: storage_unavailable,
    HTTPException: http_error,
    ClientDisconnect: client_gone,
    Exception: unexpected,
}
