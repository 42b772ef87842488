"""The shape of an import document: every entry's required names and value types, checked before
anything else (see docs/config-schema.md)."""

from __future__ import annotations

from typing import Any

from credo.domain.errors import InvalidRequest

MAX_HASH = 255  # a stored hash's column size; ours are far shorter


def items_of(doc: dict[str, Any], key: str) -> list[dict[str, Any]]:
    items = doc.get(key) or []
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise InvalidRequest(f"bad {key}", description=f"{key}: must be a list of objects.")
    for item in items:
        _check_types(item, key)
        policies = item.get("policies") or []
        if key == "agents" and (not isinstance(policies, list) or not all(isinstance(p, dict) for p in policies)):
            raise InvalidRequest("policies", description="agents.policies: must be a list of objects.")
        for policy in policies if key == "agents" else []:
            _check_types(policy, "agents.policies")
    return items


LIST_FIELDS = ("scopes", "grant_types", "owners", "members", "subjects", "subject_groups", "permissions",
               "redirect_uris", "post_logout_redirect_uris", "resources")


REQUIRED = {"scripts": ("name", "source"), "users": ("username",), "groups": ("name",),
            "applications": ("client_id",), "agents": ("client_id",), "agents.policies": ("application",)}


def _check_types(item: dict[str, Any], section: str) -> None:
    """Required names present; lists are lists of strings, flags booleans, attributes a map of string lists."""
    for name in REQUIRED.get(section, ()):
        need(item, section, name)
    if section == "users" and not item.get("password") and not item.get("password_hash"):
        raise InvalidRequest("no password", description=f"users.password: '{item['username']}' needs password or "
                                                        "password_hash.")
    for name in LIST_FIELDS:
        value = item.get(name)
        if value is not None and (not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
            raise InvalidRequest(f"{section}.{name}", description=f"{section}.{name}: must be a list of strings.")
    for name in ("active", "enabled", "skip_consent", "reset_password", "reset_secret", "dpop_bound_access_tokens"):
        if name in item and not isinstance(item[name], bool):
            raise InvalidRequest(f"{section}.{name}", description=f"{section}.{name}: must be true or false.")
    for name in ("secret", "secret_hash", "password", "password_hash", "name", "description", "source", "id", "email",
                 "application_type"):
        if item.get(name) is not None and not isinstance(item[name], str):
            raise InvalidRequest(f"{section}.{name}", description=f"{section}.{name}: must be a string.")
    for name in ("secret_hash", "password_hash"):
        if len(item.get(name) or "") > MAX_HASH:
            raise InvalidRequest(f"{section}.{name}", description=f"{section}.{name}: at most {MAX_HASH} characters.")
    if item.get("keys") is not None and not isinstance(item["keys"], dict):
        raise InvalidRequest(f"{section}.keys", description=f"{section}.keys: must be an object with jwks or jwks_uri "
                                                            "(and token_endpoint_auth_signing_alg).")
    attrs = item.get("attributes")
    if attrs is not None and (not isinstance(attrs, dict) or not all(
            isinstance(v, list) and all(isinstance(x, str) for x in v) for v in attrs.values())):
        raise InvalidRequest(f"{section}.attributes",
                             description=f"{section}.attributes: must map names to lists of strings.")


def need(item: dict[str, Any], section: str, name: str) -> str:
    value = item.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidRequest(f"missing {section}.{name}", description=f"{section}.{name}: required.")
    return value
