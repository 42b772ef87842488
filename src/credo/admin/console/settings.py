"""Console: OAuth2 provider settings and realms."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from starlette.responses import Response

from credo.admin.console.base import Page, field_errors
from credo.domain.errors import OAuthError
from credo.domain.settings import KNOWN_GRANT_TYPES
from credo.management import realms, usecases

GRANT_LABELS = {"client_credentials": "Client Credentials", "password": "Resource Owner Password Credentials",
                "urn:ietf:params:oauth:grant-type:token-exchange": "Token Exchange", "refresh_token": "Refresh Token"}
NUMBERS = ("access_token_lifetime", "refresh_token_lifetime", "registration_access_token_lifetime",
           "max_delegation_depth")


def _number(page: Page, name: str) -> int | str | None:
    raw = page.value(name)
    if raw == "":
        return None
    return int(raw) if raw.lstrip("-").isdigit() else raw  # a non-number is left for pydantic to name


def settings_changes(page: Page, current: dict[str, Any]) -> dict[str, Any]:
    protection = current["protection"]
    policy = {**protection["policy"], "max_clients": _number(page, "policy_max_clients"),
              "rate_limit_per_minute": _number(page, "policy_rate_limit_per_minute")}
    changes: dict[str, Any] = {
        "grant_types": page.values("grant_types"),
        "registration_scope_allowlist": page.words("registration_scope_allowlist"),
        "allow_open_registration": page.checked("allow_open_registration"),
        "dcr_script": page.value("dcr_script") or None,
        "token_format": page.value("token_format", "stateful"),
        "signing_alg": page.value("signing_alg", "ES256"),
        "protection": {**protection, "require_software_statement": page.checked("require_software_statement"),
                       "require_signed_request": page.checked("require_signed_request"), "policy": policy},
    }
    for name in NUMBERS:
        changes[name] = _number(page, name)
    return changes


def _flatten(errors: dict[str, str], exc: Exception) -> dict[str, str]:
    if isinstance(exc, ValidationError):
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ())]
            if loc[:3] == ["protection", "policy", "max_clients"]:
                errors["policy_max_clients"] = str(err["msg"])
            elif loc[:3] == ["protection", "policy", "rate_limit_per_minute"]:
                errors["policy_rate_limit_per_minute"] = str(err["msg"])
    return errors


def settings_page(page: Page) -> Response:
    realm = page.services.realm(page.realm)
    errors: dict[str, str] = {}
    shown = realm.settings
    if page.request.method == "POST":
        try:
            current = realm.settings.model_dump(mode="json")
            changes = {k: v for k, v in settings_changes(page, current).items() if v != current.get(k)}
            if changes:
                realms.update_settings(page.services, realm.name, changes, actor=page.admin)
            return page.redirect(f"/admin/r/{realm.name}/settings", "Settings saved.")
        except (OAuthError, ValidationError) as exc:
            errors = _flatten(field_errors(exc), exc)
    scripts = [("", "— none —")] + [(s.id, s.name) for s in usecases.list_scripts(page.services, realm.name)]
    return page.render("settings.html", s=shown, errors=errors, notice=page.request.query_params.get("notice"),
                       grant_options=[(g, GRANT_LABELS.get(g, g)) for g in KNOWN_GRANT_TYPES],
                       script_options=scripts, status=400 if errors else 200)


def realms_page(page: Page) -> Response:
    errors: dict[str, str] = {}
    if page.request.method == "POST":
        name = page.value("name")
        try:
            if page.services.storage.realms.get(name) is not None:
                errors = {"name": f"realm '{name}' already exists."}
            else:
                realms.ensure_realm(page.services, name, actor=page.admin)
                return page.redirect(f"/admin/r/{name}/settings", f"Realm {name} created.")
        except OAuthError as exc:
            errors = {"name": exc.description}
    rows = [{"cells": [r.name, r.path], "href": f"/admin/r/{r.name}/settings", "key": r.name}
            for r in page.services.storage.realms.all()]
    return page.render("realms.html", rows=rows, errors=errors, title="Realms", headers=["Realm", "Path"],
                       delete_base="/admin/realms",
                       subtitle="Each realm has its own provider settings, clients, users and keys.",
                       notice=page.request.query_params.get("notice"), status=400 if errors else 200)


def delete_realm(page: Page) -> Response:
    realms.delete_realm(page.services, page.realm, actor=page.admin)
    return page.redirect("/admin/realms", "Realm deleted.")
