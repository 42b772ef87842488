"""The tokeninfo endpoint: the token is its own credential; the shape follows the seeds."""

from __future__ import annotations

from typing import Any

from credo.domain.errors import InvalidRequest, InvalidToken
from credo.domain.models import Realm
from credo.oauth.dpop import DpopRequest, check_presented, token_jkt
from credo.oauth.services import Services
from credo.oauth.tokens import STATEFUL_CTS, STATELESS_CTS, read_access_token


async def tokeninfo(services: Services, realm: Realm, value: str | None,
              presented: tuple[bool, DpopRequest | None] | None = None) -> dict[str, Any]:
    """`presented`: the token came in an `Authorization` header (DPoP scheme or not, and the DPoP proof)."""
    if not value:
        raise InvalidRequest("no token", description="Send the token as 'access_token' or a Bearer header.")
    token = read_access_token(services, realm, value)
    if token is None:
        raise InvalidToken("token not active", scheme="DPoP" if presented and presented[0] else "Bearer")
    if presented is not None:
        await check_presented(services, realm, token, dpop_scheme=presented[0], dpop=presented[1])
    jkt = token_jkt(token.claims)
    c = token.claims
    body: dict[str, Any] = {
        "sub": c["sub"],
        "cts": STATELESS_CTS if token.stateless else STATEFUL_CTS,
        "auditTrackingId": c.get("auditTrackingId"),
        "subname": c["sub"],
        "iss": c["iss"],
        "tokenName": "access_token",
        "token_type": "Bearer" if jkt is None else "DPoP",
        "authGrantId": c.get("authGrantId"),
        "client_id": c["client_id"],
        "access_token": token.value,
        "aud": c.get("aud"),
        "nbf": c.get("nbf", c["iat"]),
        "grant_type": c.get("grant_type"),
        "realm": c.get("realm"),
    }
    for scope in token.scopes:
        body.setdefault(scope, "")
    if "act" in c:
        body["act"] = c["act"]
    if jkt is not None:
        body["cnf"] = {"jkt": jkt}
    if "auth_level" in c:
        body["auth_level"] = c["auth_level"]
    body.update({"scope": list(token.scopes), "iat": c["iat"], "exp": c["exp"],
                 "expires_in": max(0, int(c["exp"]) - services.clock.now())})
    return body
