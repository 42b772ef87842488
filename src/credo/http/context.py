"""Per-request lookups shared by the handlers."""

from __future__ import annotations

from starlette.requests import Request

from credo.domain.models import Realm
from credo.oauth.services import Services


def services_of(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


def realm_of(request: Request) -> Realm:
    return services_of(request).realm(request.path_params.get("realm", "root"))


def source_ip(request: Request) -> str:
    return request.client.host if request.client else ""
