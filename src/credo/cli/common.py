"""Helpers shared by the CLI commands: open the configured storage and services."""

from __future__ import annotations

from credo.app import build_services, open_storage
from credo.oauth.services import Services
from credo.settings import Settings


def open_services(settings: Settings | None = None) -> Services:
    settings = settings or Settings()
    storage = open_storage(settings)
    return build_services(settings, storage, base_url=settings.resolved_public_url())
