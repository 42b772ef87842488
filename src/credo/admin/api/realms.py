"""Admin API: sign-in, realms, provider settings, signing keys, audit log."""

from __future__ import annotations

from typing import Any

from credo.admin.api import shapes
from credo.admin.api.base import Call, Tagged, optional, require
from credo.domain.errors import InvalidRequest
from credo.domain.settings import ProviderSettings
from credo.management import keys, listings, realms
from credo.management.export import export_realm, import_document, import_warnings

AUDIT_FILTERS = listings.AUDIT_FILTERS


def list_realms(call: Call) -> list[dict[str, Any]]:
    """The realms the caller may touch (every realm for an administrator)."""
    return [shapes.realm(r) for r in call.services.storage.realms.all() if call.principal.may_realm(r.name)]


def create_realm(call: Call) -> dict[str, Any]:
    name = require(call.body, "name")
    if call.services.storage.realms.get(name) is not None:
        raise InvalidRequest("realm exists", description=f"name: realm '{name}' already exists.")
    settings = optional(call.body, "settings", dict, {})
    if not realms.REALM_NAME.fullmatch(name):
        raise InvalidRequest("realm name", description="name: use lowercase letters, digits, '-' and '_' (max 63).")
    initial = realms.merged_settings(ProviderSettings(), settings)  # its first key follows its signing_alg
    return shapes.realm(realms.ensure_realm(call.services, name, initial, actor=call.actor))


def delete_realm(call: Call) -> None:
    realms.delete_realm(call.services, call.path("realm"), actor=call.actor)


def get_settings(call: Call) -> Tagged:
    return _tagged(realms.get_realm(call.services, call.realm).settings)


def patch_settings(call: Call) -> Tagged:
    """The merge patch; with If-Match, only if the settings still have that ETag (412 otherwise)."""
    realm = realms.patch_settings(call.services, call.realm, call.body, actor=call.actor,
                                  if_match=call.request.headers.get("if-match"))
    return _tagged(realm.settings)


def _tagged(settings: ProviderSettings) -> Tagged:
    return Tagged(settings.model_dump(mode="json"), realms.settings_etag(settings))


def export_config(call: Call) -> dict[str, Any]:
    return export_realm(call.services, call.realm)


def import_config(call: Call) -> dict[str, Any]:
    """Make the realm in the path match the document (its `realm`, when given, must agree); with `warnings`
    when it set something that does nothing."""
    name = call.path("realm")
    if call.body.get("realm", name) != name:
        raise InvalidRequest("realm mismatch", description=f"realm: the document is for '{call.body['realm']}'.")
    doc = {**call.body, "realm": name}
    counts: dict[str, Any] = import_document(call.services, doc, actor=call.actor)
    warnings = import_warnings(call.services, doc)
    return {**counts, "warnings": warnings} if warnings else counts


def list_keys(call: Call) -> list[dict[str, Any]]:
    return keys.list_keys(call.services, call.realm)


def rotate_key(call: Call) -> dict[str, Any]:
    alg = optional(call.body, "alg", str)
    if alg is not None and alg not in ("ES256", "RS256"):
        raise InvalidRequest("alg", description="alg: must be ES256 or RS256.")
    return keys.rotate_key(call.services, call.realm, alg, actor=call.actor)


def audit_log(call: Call) -> list[dict[str, Any]]:
    filters = {name: call.query(name) for name in AUDIT_FILTERS}
    raw_limit = call.query("limit") or "100"
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 1000:
        raise InvalidRequest("limit", description="limit: an integer from 1 to 1000.")
    raw_before = call.query("before")
    if raw_before is not None and not raw_before.isdigit():
        raise InvalidRequest("before", description="before: an event id (the id of the last event of a page).")
    events, _ = listings.audit_page(call.services, call.realm, filters, size=int(raw_limit),
                                    before=int(raw_before) if raw_before else None)
    return [shapes.audit(e) for e in events]
