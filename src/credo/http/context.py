"""Per-request lookups shared by the handlers."""

from __future__ import annotations

from starlette.requests import Request

from credo.domain.models import Realm
from credo.http.forms import RequestHeaders
from credo.oauth.dpop import DpopRequest
from credo.oauth.services import Services


def services_of(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


def realm_of(request: Request) -> Realm:
    return services_of(request).realm(request.path_params.get("realm", "root"))


def source_ip(request: Request) -> str:
    return request.client.host if request.client else ""


def dpop_of(request: Request, headers: RequestHeaders) -> DpopRequest | None:
    """The request's DPoP proof with what it must match (RFC 9449 §4.3): the method and the URL the client
    sent the request to, which is the server's public URL (the one discovery advertises) and the path."""
    if headers.dpop is None:
        return None
    return DpopRequest(headers.dpop, request.method, services_of(request).base_url + request.scope["path"])
