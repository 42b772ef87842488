"""POST /register and /aiagent/register (RFC 7591); GET/PUT/DELETE /register/{client_id} and
/register?client_id= (RFC 7592)."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from credo.domain.errors import InvalidRequest
from credo.http.context import realm_of, services_of, source_ip
from credo.http.forms import RequestHeaders, UnsupportedMediaType, query_params, read_body, read_json_object
from credo.http.responses import NO_STORE, json_response
from credo.oauth.registration import (
    RegistrationRequest,
    delete_registration,
    read_registration,
    register,
    replace_registration,
)

JWS_MEDIA_TYPES = ("application/jose", "application/jwt")


async def _registration_request(request: Request, headers: RequestHeaders, *, agent: bool) -> RegistrationRequest:
    body: dict[str, object] | None = None
    signed: str | None = None
    if headers.media_type in JWS_MEDIA_TYPES:
        raw = await read_body(request, headers)
        try:
            signed = raw.decode("ascii").strip()
        except UnicodeDecodeError as exc:
            raise InvalidRequest("signed body not ASCII", description="The signed request is not a compact JWS.") from exc
    else:
        body, _ = await read_json_object(request, headers)
    return RegistrationRequest(realm=realm_of(request), body=body, signed_body=signed, bearer=headers.bearer,
                               source=source_ip(request), agent=agent)


async def _register(request: Request, headers: RequestHeaders, *, agent: bool) -> Response:
    body = await register(services_of(request), await _registration_request(request, headers, agent=agent))
    return json_response(body, 201)


async def register_client(request: Request, headers: RequestHeaders) -> Response:
    if request.method != "POST":
        return await manage(request, headers)
    return await _register(request, headers, agent=False)


async def register_agent(request: Request, headers: RequestHeaders) -> Response:
    return await _register(request, headers, agent=True)


async def manage(request: Request, headers: RequestHeaders) -> Response:
    if request.method == "HEAD":  # a read rotates the token; a HEAD would lose the new one
        raise HTTPException(405, "Use GET to read a registration.", headers={"allow": "GET, PUT, DELETE"})
    services, realm = services_of(request), realm_of(request)
    client_id = request.path_params.get("client_id") or query_params(request.scope).params.get("client_id")
    bearer = headers.bearer
    if request.method == "GET":
        return json_response(await read_registration(services, realm, client_id, bearer))
    if request.method == "DELETE":
        await delete_registration(services, realm, client_id, bearer)
        return Response(status_code=204, headers=dict(NO_STORE))
    if headers.media_type in JWS_MEDIA_TYPES:
        raise UnsupportedMediaType("signed update", description="The request body must be application/json.")
    body, _ = await read_json_object(request, headers)
    return json_response(await replace_registration(services, realm, client_id, body, bearer))
