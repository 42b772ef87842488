"""Token introspection (RFC 7662), in the response shape of the seeds.

The caller authenticates as a client. It learns about a token only if the token was issued to it,
names it (or one of its RFC 8707 resource identifiers) in its audience or `act` chain, or the caller holds
the `am-introspect-all-tokens` scope;
anything else, like an unknown, expired or revoked token, is exactly `{"active": false}`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from credo.domain.errors import InvalidRequest
from credo.domain.models import Client, Realm
from credo.oauth.client_auth import authenticate_client
from credo.oauth.credentials import BasicCredentials
from credo.oauth.services import Services
from credo.oauth.tokens import AccessToken, read_access_token

INTROSPECT_ALL_SCOPE = "am-introspect-all-tokens"
INACTIVE: dict[str, Any] = {"active": False}


def may_see(client: Client, token: AccessToken) -> bool:
    if INTROSPECT_ALL_SCOPE in client.scopes:
        return True
    cid, audience = client.client_id, token.audience
    return (token.client_id == cid or cid in audience or cid in token.actors()
            or any(resource in audience for resource in client.resources))


def introspection_body(services: Services, token: AccessToken) -> dict[str, Any]:
    c = token.claims
    body: dict[str, Any] = {
        "active": True,
        "scope": c.get("scope", ""),
        "realm": c.get("realm"),
        "client_id": c["client_id"],
        "user_id": c["sub"],
        "username": c["sub"],
        "token_type": "Bearer" if "cnf" not in c else "DPoP",
        "exp": c["exp"],
        "sub": c["sub"],
        "iss": c["iss"],
        "subname": c["sub"],
    }
    if "auth_level" in c:
        body["auth_level"] = c["auth_level"]
    body["authGrantId"] = c.get("authGrantId")
    if "act" in c:
        body["act"] = c["act"]
    if "aud" in c:
        body["aud"] = c["aud"]
    if "cnf" in c:  # RFC 9449 §6.2: the key a DPoP-bound token is bound to, for the resource server to check
        body["cnf"] = c["cnf"]
    body.update({"auditTrackingId": c.get("auditTrackingId"), "iat": c["iat"], "nbf": c.get("nbf", c["iat"]),
                 "jti": c["jti"], "expires_in": max(0, int(c["exp"]) - services.clock.now())})
    return body


async def introspect(services: Services, realm: Realm, params: Mapping[str, str], basic: BasicCredentials | None,
               *, source: str = "") -> dict[str, Any]:
    client = await authenticate_client(services, realm.name, params, basic, source=source, endpoint="introspect")
    value = params.get("token")
    if not value:
        raise InvalidRequest("missing token", description="The 'token' parameter is required.")
    hint = params.get("token_type_hint")
    if hint is not None and hint not in ("access_token", "refresh_token"):
        return INACTIVE
    token = read_access_token(services, realm, value)
    if token is None or not may_see(client, token):
        return INACTIVE
    return introspection_body(services, token)
