"""OpenID Connect: ID tokens (Core §2, §3.1.3.6), the UserInfo claims (§5.3, §5.4) and the checks of
RP-initiated logout (RP-Initiated Logout 1.0 §2, §3)."""

from __future__ import annotations

import base64
import hashlib
import os
from typing import Any

from credo.domain.models import Client, Realm, User
from credo.keys.keyring import TokenRejected
from credo.oauth.services import Services

ID_TOKEN_TYP = "JWT"
SCOPE_CLAIMS = {"openid": ("sub",), "profile": ("name", "preferred_username"), "email": ("email",)}
CLAIMS_SUPPORTED = ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "azp", "sid", "name",
                    "preferred_username", "email", "act", "scope", "client_id"]
DEFAULT_SCOPE_DESCRIPTIONS = {
    "openid": "Confirm who you are (your user id)",
    "profile": "Your name and username",
    "email": "Your email address",
    "offline_access": "Keep access while you are away (a refresh token)",
}


def at_hash(access_token: str) -> str:
    """The left half of the SHA-256 of the access token, base64url (ES256 and RS256 both hash with SHA-256)."""
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode("ascii")


async def id_token(services: Services, realm: Realm, client: Client, base: dict[str, Any], access_token: str) -> str:
    """An ID token for `client`: `base` holds sub, auth_time and, when known, nonce and sid."""
    now = services.clock.now()
    claims: dict[str, Any] = {
        "iss": services.issuer(realm), "aud": client.client_id, "azp": client.client_id, "iat": now,
        "exp": now + realm.settings.access_token_lifetime, "jti": os.urandom(16).hex(),
        "at_hash": at_hash(access_token)}
    claims.update({k: v for k, v in base.items() if v is not None})
    return await services.keys.sign(realm.name, claims, typ=ID_TOKEN_TYP)


def user_claims(user: User, scopes: tuple[str, ...]) -> dict[str, Any]:
    """UserInfo: `sub`, and the claims of each granted scope that the user has a value for."""
    claims: dict[str, Any] = {"sub": user.id}
    if "profile" in scopes:
        claims["preferred_username"] = user.username
        if user.name:
            claims["name"] = user.name
    if "email" in scopes and user.email:
        claims["email"] = user.email
    return claims


def scope_description(realm: Realm, scope: str) -> str:
    return realm.settings.scope_descriptions.get(scope) or DEFAULT_SCOPE_DESCRIPTIONS.get(scope) or scope


def id_token_hint(services: Services, realm: Realm, value: str | None) -> dict[str, Any] | None:
    """The claims of an ID token this realm issued and that has not expired, or None."""
    if not value or len(value) > 8192:
        return None
    try:
        return services.keys.verify(realm.name, value, issuer=services.issuer(realm), typ=ID_TOKEN_TYP)
    except TokenRejected:
        return None


def logout_redirect(client: Client | None, uri: str | None) -> str | None:
    """`uri` if the client registered it as a post-logout redirect URI (exact match), else None."""
    if client is None or not uri or not client.enabled:
        return None
    return uri if uri in client.post_logout_redirect_uris else None
