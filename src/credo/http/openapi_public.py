"""GET /am/oauth2/openapi.json: the OpenAPI 3.1 description of the public endpoints."""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from starlette.requests import Request
from starlette.responses import Response

from credo.http.forms import RequestHeaders

SPEC_FILE = "openapi_public.json"


@cache
def spec_bytes() -> bytes:
    return files("credo.http").joinpath(SPEC_FILE).read_bytes()


async def openapi(_request: Request, _headers: RequestHeaders) -> Response:
    return Response(spec_bytes(), media_type="application/json", headers={"cache-control": "public, max-age=300"})
