"""JSON rendering and the one OAuthError renderer."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from credo.domain.errors import OAuthError, TooManyRequests, UseDpopNonce
from credo.logs import log

NO_STORE = {"cache-control": "no-store", "pragma": "no-cache"}


_NO_STORE_RAW = [(k.encode(), v.encode()) for k, v in NO_STORE.items()]
_JSON_TYPE = (b"content-type", b"application/json")


def _no_store_json(data: bytes, status: int) -> Response:
    """What `Response(data, status, NO_STORE, "application/json")` builds, without its generic header code."""
    response = Response.__new__(Response)
    response.status_code = status
    response.background = None
    response.body = data
    response.raw_headers = [*_NO_STORE_RAW, (b"content-length", str(len(data)).encode()), _JSON_TYPE]
    return response


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None,
                  *, cache: bool = False) -> Response:
    if not headers and not cache:
        return _no_store_json(orjson.dumps(body), status)
    all_headers = {} if cache else dict(NO_STORE)
    if headers:
        all_headers.update(headers)
    return Response(orjson.dumps(body), status_code=status, headers=all_headers, media_type="application/json")


def error_response(exc: OAuthError) -> Response:
    headers: dict[str, str] = {}
    if exc.www_authenticate:
        headers["www-authenticate"] = exc.www_authenticate
    if isinstance(exc, TooManyRequests):
        headers["retry-after"] = str(exc.retry_after)
    elif isinstance(exc, UseDpopNonce):
        headers["dpop-nonce"] = exc.nonce
    if exc.status >= 500:
        log.error("request_failed", error=exc.error, detail=exc.detail)
    elif exc.detail:
        log.info("request_refused", error=exc.error, detail=exc.detail)
    return json_response({"error": exc.error, "error_description": exc.description}, exc.status, headers)
