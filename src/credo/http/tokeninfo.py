"""GET/POST /tokeninfo: the token as `access_token` (query or form) or as a Bearer header."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from credo.http.context import realm_of, services_of
from credo.http.forms import RequestHeaders, query_params, read_form
from credo.http.responses import json_response
from credo.oauth.tokeninfo import tokeninfo as do_tokeninfo


async def tokeninfo(request: Request, headers: RequestHeaders) -> Response:
    realm = realm_of(request)
    form = await read_form(request, headers) if request.method == "POST" else query_params(request.scope)
    value = form.params.get("access_token")
    if value is None and headers.bearer is not None:
        value = headers.bearer.value
    return json_response(do_tokeninfo(services_of(request), realm, value))
