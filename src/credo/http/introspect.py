"""POST /introspect (RFC 7662)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from credo.http.context import realm_of, services_of, source_ip
from credo.http.forms import read_form
from credo.http.responses import json_response
from credo.oauth.introspection import introspect as do_introspect


async def introspect(request: Request) -> Response:
    realm = realm_of(request)
    params = await read_form(request)
    return json_response(do_introspect(services_of(request), realm, params, request.headers.get("authorization"),
                                       source=source_ip(request)))
