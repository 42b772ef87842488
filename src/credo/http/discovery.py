"""GET /.well-known/openid-configuration, /.well-known/oauth-authorization-server and the JWKS."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from credo.http.context import realm_of, services_of
from credo.http.forms import RequestHeaders
from credo.http.responses import json_response
from credo.oauth.discovery import discovery_document


async def discovery(request: Request, _headers: RequestHeaders) -> Response:
    return json_response(discovery_document(services_of(request), realm_of(request)), cache=True)


async def jwks(request: Request, _headers: RequestHeaders) -> Response:
    realm = realm_of(request)
    return json_response(services_of(request).keys.jwks(realm.name), cache=True,
                         headers={"cache-control": "public, max-age=300"})
