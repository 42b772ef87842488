"""Everything under /admin: the JSON API and the web console."""

from __future__ import annotations

from starlette.routing import BaseRoute

from credo.admin.api import admin_api_routes
from credo.admin.console import console_routes
from credo.oauth.services import Services


def admin_routes(services: Services) -> list[BaseRoute]:
    return [*admin_api_routes(services), *console_routes()]
