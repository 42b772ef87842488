"""GET/POST /userinfo (OpenID Connect Core §5.3): the signed-in user's claims for the granted scopes.
The access token comes as `Authorization: Bearer`, or as `Authorization: DPoP` with a DPoP proof when it
is DPoP-bound (RFC 9449 §7; oauth/dpop.py `check_presented`)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from credo.domain.errors import InsufficientScope, InvalidToken
from credo.http.context import dpop_of, realm_of, services_of
from credo.http.forms import RequestHeaders
from credo.http.responses import json_response
from credo.oauth.dpop import check_presented
from credo.oauth.oidc import user_claims
from credo.oauth.tokens import read_access_token


async def userinfo(request: Request, headers: RequestHeaders) -> Response:
    realm, services = realm_of(request), services_of(request)
    presented = headers.dpop_token or headers.bearer
    if presented is None:
        raise InvalidToken("no bearer token", description="Send the access token as 'Authorization: Bearer' "
                                                          "(or 'Authorization: DPoP' with a DPoP proof).")
    dpop_scheme = presented is headers.dpop_token
    token = read_access_token(services, realm, presented.value)
    if token is None:
        raise InvalidToken("token not active", scheme="DPoP" if dpop_scheme else "Bearer")
    await check_presented(services, realm, token, dpop_scheme=dpop_scheme, dpop=dpop_of(request, headers))
    if not token.is_user_token or "openid" not in token.scopes:
        raise InsufficientScope(f"token of {token.client_id} without a user or the openid scope",
                                description="The access token was not issued for a user with the 'openid' scope.")
    user = services.user(realm.name, token.sub)
    if user is None:
        raise InvalidToken("user gone")
    return json_response(user_claims(user, token.scopes))
