"""Request/response helpers of the admin surfaces (siblings of the public endpoints, not users of them)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from credo.domain.errors import InvalidRequest
from credo.oauth.services import Services

NO_STORE = {"cache-control": "no-store", "pragma": "no-cache"}


def services_of(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None, *,
                  cache: bool = False) -> Response:
    all_headers = {} if cache else dict(NO_STORE)
    all_headers.update(headers or {})
    return Response(orjson.dumps(body), status_code=status, headers=all_headers, media_type="application/json")


async def read_body(request: Request) -> bytes:
    """The body, refused past the server's size limit (413)."""
    limit: int = request.app.state.max_body_bytes
    declared = request.headers.get("content-length")
    too_large = InvalidRequest("body too large", description="body: the request body is too large.")
    too_large.status = 413
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)
