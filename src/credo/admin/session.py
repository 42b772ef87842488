"""The console session: a signed cookie carrying the console session id (good only as this cookie: the
admin API refuses it as a bearer token); a CSRF token bound to it."""

from __future__ import annotations

import hmac

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from credo.management.admins import ADMIN_TOKEN_LIFETIME
from credo.oauth.services import Services

COOKIE = "credo_admin"


def _serializer(services: Services) -> URLSafeTimedSerializer:
    key = services.hasher.keyed_hash("credo-admin-session-signing-key")
    return URLSafeTimedSerializer(key, salt="credo-admin-session")


def session_token(services: Services, request: Request) -> str | None:
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    try:
        value = _serializer(services).loads(raw, max_age=ADMIN_TOKEN_LIFETIME)
    except BadSignature:
        return None
    return value if isinstance(value, str) else None


def signed_session(services: Services, token: str) -> str:
    """The console cookie's value for a session id (signed, so a forged cookie is refused unread)."""
    return _serializer(services).dumps(token)


def set_session(services: Services, response: Response, token: str) -> None:
    secure = services.base_url.startswith("https://")
    response.set_cookie(COOKIE, signed_session(services, token), max_age=ADMIN_TOKEN_LIFETIME, path="/admin",
                        secure=secure, httponly=True, samesite="strict")


def clear_session(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/admin")


def csrf_token(services: Services, token: str) -> str:
    return services.hasher.keyed_hash("csrf:" + token)


def csrf_ok(services: Services, token: str, presented: str | None) -> bool:
    # As bytes: compare_digest refuses str with characters outside ASCII (TypeError), and a header may carry any.
    return bool(presented) and hmac.compare_digest(csrf_token(services, token).encode(),
                                                   (presented or "").encode("utf-8", "surrogatepass"))
