"""GET/POST /tokeninfo: the token as `access_token` (query or form) or as a Bearer header."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from credo.http.context import realm_of, services_of
from credo.http.forms import query_params, read_form
from credo.http.responses import json_response
from credo.oauth.tokeninfo import tokeninfo as do_tokeninfo


async def tokeninfo(request: Request) -> Response:
    realm = realm_of(request)
    params = await read_form(request) if request.method == "POST" else query_params(request)
    value = params.get("access_token")
    auth = request.headers.get("authorization", "")
    if value is None and auth[:7].lower() == "bearer ":
        value = auth[7:].strip()
    return json_response(do_tokeninfo(services_of(request), realm, value))
