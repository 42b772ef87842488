"""Realms and their provider settings."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Any

from credo.domain.errors import ConcurrentChange, InvalidRequest, InvalidScope, NotFound, PreconditionFailed
from credo.domain.models import ATTR_ACCESS_TOKEN_LIFETIME, AuditEvent, Realm
from credo.domain.settings import KNOWN_GRANT_TYPES, ProviderSettings
from credo.oauth.scopes import parse_scope
from credo.oauth.services import Services

REALM_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
# Grants a realm may enable: the token endpoint's (the code flow among them), plus `implicit`, which dynamic
# clients may register.
REALM_GRANT_TYPES = (*KNOWN_GRANT_TYPES, "implicit")
MAX_SCOPE_DESCRIPTIONS = 200
MAX_SCOPE_DESCRIPTION = 500


def ensure_realm(services: Services, name: str, settings: ProviderSettings | None = None, *,
                 actor: str = "system") -> Realm:
    """Create the realm (with a signing key) if it does not exist; return it."""
    if not REALM_NAME.fullmatch(name):  # match() would let a final newline through
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


def _scope_descriptions(value: Any) -> Any:
    """Scope descriptions with each text trimmed; each key one scope, each text 1 to 500 characters on
    one line (what the consent page shows). Anything but an object is left to the settings' validation."""
    if not isinstance(value, dict):
        return value
    if len(value) > MAX_SCOPE_DESCRIPTIONS:
        raise InvalidRequest("scope descriptions", description=f"scope_descriptions: at most "
                                                                f"{MAX_SCOPE_DESCRIPTIONS} scopes.")
    out: dict[str, str] = {}
    for scope, text in value.items():
        try:
            valid = isinstance(scope, str) and parse_scope(scope) == (scope,)
        except InvalidScope:
            valid = False
        if not valid:
            raise InvalidRequest("scope description key", description=f"scope_descriptions: '{str(scope)[:80]}' "
                                                                       "is not a valid scope.")
        if not isinstance(text, str) or not 1 <= len(text.strip()) <= MAX_SCOPE_DESCRIPTION or any(
                ord(ch) < 32 or ord(ch) == 127 for ch in text):
            raise InvalidRequest("scope description", description=f"scope_descriptions.{scope}: a text of 1 to "
                                 f"{MAX_SCOPE_DESCRIPTION} characters on one line.")
        out[scope] = text.strip()
    return out


def merged_settings(current: ProviderSettings, changes: Any) -> ProviderSettings:
    """`current` with the top-level settings in `changes` replaced, validated. Raises pydantic's
    ValidationError for a bad value (the console maps it to form fields) and InvalidRequest naming the
    field otherwise."""
    return _validated({**current.model_dump(), **_object(changes)})


def _object(changes: Any) -> dict[str, Any]:
    if not isinstance(changes, dict):
        raise InvalidRequest("settings changes not an object",
                             description="settings: the changes must be a JSON object of setting names and values.")
    return changes


def _validated(values: dict[str, Any]) -> ProviderSettings:
    if "scope_descriptions" in values:
        values = {**values, "scope_descriptions": _scope_descriptions(values["scope_descriptions"])}
    settings = ProviderSettings.model_validate(values)
    unknown = [g for g in settings.grant_types if g not in REALM_GRANT_TYPES]
    if unknown:
        raise InvalidRequest(f"unknown grant types {unknown}", description=f"grant_types: unknown grant type "
                             f"{', '.join(unknown)}; known: {', '.join(REALM_GRANT_TYPES)}.")
    return settings


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch: objects merge member by member, a null member is removed (a setting then
    takes its default), anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


def patch_settings(services: Services, name: str, patch: Any, *, actor: str = "system",
                   if_match: str | None = None) -> Realm:
    """Apply a JSON merge patch (RFC 7396) to the realm's provider settings: only the members given change,
    also inside `protection` and `scope_descriptions` (the admin API's PATCH and `credo realm settings
    --set`). A member that is no setting is refused, null or not. With `if_match` (an ETag of
    settings_etag), only if the settings are still those (PreconditionFailed otherwise)."""
    return _change(services, name, lambda current: patched_settings(current, patch), sorted(patch), actor, if_match)


def patched_settings(current: ProviderSettings, patch: Any) -> ProviderSettings:
    """`current` with the JSON merge patch `patch` applied, validated (the errors of merged_settings)."""
    fields = ProviderSettings.model_fields
    known = {k: v for k, v in _object(patch).items() if k in fields}
    unknown = {k: v for k, v in patch.items() if k not in fields}  # left for the validation to name
    return _validated({**merge_patch(current.model_dump(), known), **unknown})


def update_settings(services: Services, name: str, changes: dict[str, Any], *, actor: str = "system") -> Realm:
    """Replace the top-level settings in `changes` (see merged_settings for the errors)."""
    return _change(services, name, lambda current: merged_settings(current, changes), sorted(changes), actor, None)


SWAP_ATTEMPTS = 8


def settings_etag(settings: ProviderSettings) -> str:
    """The entity tag of a realm's settings (a strong validator: equal settings, equal tag)."""
    return '"' + hashlib.sha256(settings.model_dump_json().encode()).hexdigest()[:32] + '"'


def _change(services: Services, name: str, change: Callable[[ProviderSettings], ProviderSettings],
            changed: list[str], actor: str, if_match: str | None) -> Realm:
    """Read, change and compare-and-swap the settings, again on the settings now stored when another
    change came in between (each change applies; none is lost): a bounded number of times."""
    for _ in range(SWAP_ATTEMPTS):
        realm = get_realm(services, name)
        if if_match is not None and if_match.strip() != "*" and \
                settings_etag(realm.settings) not in (tag.strip() for tag in if_match.split(",")):
            raise PreconditionFailed(f"settings of {name} changed", description="If-Match: the settings were "
                                     "changed since they were read; read them again (a new ETag) and retry.")
        updated = Realm(name=name, settings=change(realm.settings), created_at=realm.created_at)
        if services.storage.realms.swap(updated, expected=realm.settings):
            _saved(services, realm, updated, changed, actor)
            return updated
    raise ConcurrentChange(f"settings of {name}: {SWAP_ATTEMPTS} concurrent changes won",
                           description="settings: changed concurrently too often; retry.")


def _saved(services: Services, realm: Realm, updated: Realm, changed: list[str], actor: str) -> None:
    services.audit(AuditEvent(realm=realm.name, action="settings.update", actor=actor, target=realm.name,
                              details={"changed": changed}))
    if updated.settings.signing_alg != realm.settings.signing_alg:
        follow_signing_alg(services, realm.name, actor)


def follow_signing_alg(services: Services, name: str, actor: str) -> None:
    """A new active key when the realm's `signing_alg` is not the active key's: the realm signs with the
    algorithm its settings name (the old key stays published until its tokens expired)."""
    alg = get_realm(services, name).settings.signing_alg
    active = [k.alg for k in services.storage.keys.all(name) if k.active]
    if active and active[-1] != alg:
        key = services.keys.rotate(name, alg, longest_token_lifetime(services, name))
        services.audit(AuditEvent(realm=name, action="key.rotate", actor=actor, target=key.kid))


def longest_token_lifetime(services: Services, realm: str) -> int:
    """The longest lifetime a token of the realm may have (a retired key stays published that long)."""
    settings = get_realm(services, realm).settings
    lifetimes = [settings.access_token_lifetime, 86400]
    for client in services.storage.clients.all(realm):
        values = client.attributes.get(ATTR_ACCESS_TOKEN_LIFETIME)
        if values and str(values[0]).isdigit():
            lifetimes.append(int(values[0]))
    return max(lifetimes)


def delete_realm(services: Services, name: str, *, actor: str = "system") -> None:
    if name == "root":
        raise InvalidRequest("root realm", description="The root realm cannot be deleted.")
    if not services.storage.realms.delete(name):
        raise NotFound(f"realm {name}", description=f"Realm '{name}' does not exist.")
    services.audit(AuditEvent(realm=name, action="realm.delete", actor=actor, target=name))

