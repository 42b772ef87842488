"""Realms and their provider settings."""

from __future__ import annotations

import re
from typing import Any

from credo.domain.errors import InvalidRequest, NotFound
from credo.domain.models import AuditEvent, Realm
from credo.domain.settings import KNOWN_GRANT_TYPES, ProviderSettings
from credo.oauth.services import Services

REALM_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
# Grants a realm may enable: the token endpoint's (the code flow among them), plus `implicit`, which dynamic
# clients may register.
REALM_GRANT_TYPES = (*KNOWN_GRANT_TYPES, "implicit")


def ensure_realm(services: Services, name: str, settings: ProviderSettings | None = None, *,
                 actor: str = "system") -> Realm:
    """Create the realm (with a signing key) if it does not exist; return it."""
    if not REALM_NAME.match(name):
        raise InvalidRequest(f"bad realm name {name!r}",
                             description="A realm name uses lowercase letters, digits, '-' and '_' (max 63).")
    realm = services.storage.realms.get(name)
    if realm is None:
        realm = Realm(name=name, settings=settings or ProviderSettings(), created_at=services.clock.now())
        services.storage.realms.put(realm)
        services.audit(AuditEvent(realm=name, action="realm.create", actor=actor, target=name))
    services.keys.ensure_key(name, realm.settings.signing_alg)
    return realm


def get_realm(services: Services, name: str) -> Realm:
    realm = services.storage.realms.get(name)
    if realm is None:
        raise NotFound(f"realm {name}", description=f"Realm '{name}' does not exist.")
    return realm


def update_settings(services: Services, name: str, changes: dict[str, Any], *, actor: str = "system") -> Realm:
    """Merge `changes` into the realm's provider settings. Raises pydantic's ValidationError for a bad
    value (the console maps it to form fields) and InvalidRequest naming the field otherwise."""
    realm = get_realm(services, name)
    if not isinstance(changes, dict):
        raise InvalidRequest("settings changes not an object",
                             description="settings: the changes must be a JSON object of setting names and values.")
    merged = {**realm.settings.model_dump(), **changes}
    settings = ProviderSettings.model_validate(merged)
    unknown = [g for g in settings.grant_types if g not in REALM_GRANT_TYPES]
    if unknown:
        raise InvalidRequest(f"unknown grant types {unknown}", description=f"grant_types: unknown grant type "
                             f"{', '.join(unknown)}; known: {', '.join(REALM_GRANT_TYPES)}.")
    updated = Realm(name=realm.name, settings=settings, created_at=realm.created_at)
    services.storage.realms.put(updated)
    services.audit(AuditEvent(realm=name, action="settings.update", actor=actor, target=name,
                              details={"changed": sorted(changes)}))
    return updated


def delete_realm(services: Services, name: str, *, actor: str = "system") -> None:
    if name == "root":
        raise InvalidRequest("root realm", description="The root realm cannot be deleted.")
    if not services.storage.realms.delete(name):
        raise NotFound(f"realm {name}", description=f"Realm '{name}' does not exist.")
    services.audit(AuditEvent(realm=name, action="realm.delete", actor=actor, target=name))

