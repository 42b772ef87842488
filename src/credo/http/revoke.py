"""POST /token/revoke (RFC 7009)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from credo.http.context import realm_of, services_of, source_ip
from credo.http.forms import RequestHeaders, read_form
from credo.http.responses import json_response
from credo.oauth.revocation import revoke_token


async def revoke(request: Request, headers: RequestHeaders) -> Response:
    realm = realm_of(request)
    form = await read_form(request, headers)
    await revoke_token(services_of(request), realm, form.params, headers.basic, source=source_ip(request))
    return json_response({})
