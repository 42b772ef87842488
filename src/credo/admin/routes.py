"""Everything under /admin: the JSON API and the web console, as their own application."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import State
from starlette.routing import BaseRoute

from credo.admin.api import admin_api_routes
from credo.admin.console import console_routes
from credo.oauth.services import Services


def admin_routes(services: Services) -> list[BaseRoute]:
    return [*admin_api_routes(services), *console_routes()]


def admin_app(services: Services, *, state: State, exception_handlers: Mapping[Any, Any]) -> Starlette:
    """The admin application, mounted under /admin by the application (credo.app). Its routes keep their
    full paths (`/admin/api/...`): it receives the requests unchanged, and shares the application's
    `state` (the handlers read `request.app.state`)."""
    app = Starlette(routes=admin_routes(services), exception_handlers=exception_handlers)
    app.state = state
    return app
