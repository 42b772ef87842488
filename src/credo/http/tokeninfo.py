"""GET/POST /tokeninfo: the token as `access_token` (query or form), or in an `Authorization` header.

A resource server checking a token sends it as `access_token` and learns whether it is DPoP-bound
(`token_type`, `cnf`). A client that presents its own token in the header uses it as a credential: a
DPoP-bound token then needs the `DPoP` scheme and a proof of its key (RFC 9449 §7, `check_presented`)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from credo.http.context import dpop_of, realm_of, services_of
from credo.http.forms import RequestHeaders, query_params, read_form
from credo.http.responses import json_response
from credo.oauth.tokeninfo import tokeninfo as do_tokeninfo


async def tokeninfo(request: Request, headers: RequestHeaders) -> Response:
    realm = realm_of(request)
    form = await read_form(request, headers) if request.method == "POST" else query_params(request.scope)
    value = form.params.get("access_token")
    presented = headers.dpop_token or headers.bearer
    if value is None and presented is not None:
        dpop = dpop_of(request, headers)
        return json_response(await do_tokeninfo(services_of(request), realm, presented.value, presented=(
            presented is headers.dpop_token, dpop)))
    return json_response(await do_tokeninfo(services_of(request), realm, value))
