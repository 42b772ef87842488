"""POST /access_token: the token endpoint."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from credo.http.context import dpop_of, realm_of, services_of, source_ip
from credo.http.forms import RequestHeaders, read_form
from credo.http.operations import GRANT_KEY, note_caller
from credo.http.responses import json_response
from credo.oauth.dpop import fresh_nonce
from credo.oauth.token_endpoint import TokenRequest


async def token(request: Request, headers: RequestHeaders) -> Response:
    realm = realm_of(request)
    form = await read_form(request, headers)
    dpop = dpop_of(request, headers)
    scope = request.scope
    scope[GRANT_KEY] = form.params.get("grant_type")  # for the metrics and the access log
    note_caller(scope, form.params, headers.basic)
    body = await request.app.state.token_endpoint.handle(TokenRequest(
        realm=realm, params=form.params, basic=headers.basic, source=source_ip(request), resources=form.resources,
        dpop=dpop))
    if dpop is not None and realm.settings.dpop_nonce_required:  # the nonce for the next proof (RFC 9449 §8)
        return json_response(body, headers={"dpop-nonce": fresh_nonce(services_of(request), realm)})
    return json_response(body)
