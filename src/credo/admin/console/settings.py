"""Console: OAuth2 provider settings and realms."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from functools import reduce
from typing import Any

from pydantic import ValidationError
from starlette.responses import Response

from credo.admin.console.base import Page, field_errors
from credo.domain.errors import OAuthError
from credo.domain.settings import KNOWN_GRANT_TYPES
from credo.management import realms, usecases
from credo.management.messages import says

GRANT_LABELS = {"client_credentials": "Client Credentials", "password": "Resource Owner Password Credentials",
                "urn:ietf:params:oauth:grant-type:token-exchange": "Token Exchange", "refresh_token": "Refresh Token",
                "authorization_code": "Authorization Code", "implicit": "Implicit (dynamic clients' metadata only)",
                "urn:ietf:params:oauth:grant-type:jwt-bearer": "JWT Bearer (workload tokens, ID-JAG)"}
NUMBERS = ("access_token_lifetime", "refresh_token_lifetime", "registration_access_token_lifetime",
           "max_delegation_depth", "session_lifetime")
FLAGS = ("allow_open_registration", "pkce_optional_for_confidential_clients", "skip_consent_for_applications",
         "refresh_requires_offline_access", "issue_refresh_tokens", "exchange_null_refresh_token",
         "dpop_nonce_required")
TOP_FIELDS = ("grant_types", "registration_scope_allowlist", "dcr_script", "scope_descriptions", "token_format",
              "signing_alg", "federation")


def grant_options(enabled: tuple[str, ...]) -> list[tuple[str, str]]:
    """Every grant a realm may enable, and any other one it has (so saving the form never drops one)."""
    grants = dict.fromkeys((*KNOWN_GRANT_TYPES, *realms.REALM_GRANT_TYPES, *enabled))
    return [(g, GRANT_LABELS.get(g, g)) for g in grants]


def same(shown: Any, stored: Any, name: str) -> bool:
    """Whether a form value is the stored one (grant types are a set: the checkboxes' order is the form's)."""
    if name == "grant_types" and isinstance(shown, list) and isinstance(stored, (list, tuple)):
        return sorted(shown) == sorted(stored) and len(set(shown)) == len(shown)
    return bool(shown == stored)


def scope_lines(descriptions: dict[str, str]) -> str:
    """Scope descriptions as the form shows them: one a line, the scope, a space, the text."""
    return "\n".join(f"{scope} {text}" for scope, text in descriptions.items())


def _scope_descriptions(page: Page) -> dict[str, str]:
    out: dict[str, str] = {}
    for number, line in enumerate(page.value("scope_descriptions").splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split(None, 1)
        if len(parts) < 2:
            raise FormError("scope_descriptions", f"line {number}: write the scope, a space, then what the consent "
                                                  "page says of it.")
        out[parts[0]] = parts[1].strip()
    return out


def _number(page: Page, name: str) -> int | str | None:
    raw = page.value(name)
    if raw == "":
        return None
    return int(raw) if raw.lstrip("-").isdigit() else raw  # a non-number is left for pydantic to name


# Form field -> location in the settings (for the protection section's nested values).
NESTED = {
    "require_software_statement": ("protection", "require_software_statement"),
    "require_signed_request": ("protection", "require_signed_request"),
    "policy_max_clients": ("protection", "policy", "max_clients"),
    "policy_rate_limit_per_minute": ("protection", "policy", "rate_limit_per_minute"),
    "policy_allowed_scopes": ("protection", "policy", "allowed_scopes"),
    "policy_allowed_redirect_hosts": ("protection", "policy", "allowed_redirect_hosts"),
    "ss_jwks_uri": ("protection", "software_statement_keys", "jwks_uri"),
    "ss_jwks": ("protection", "software_statement_keys", "jwks"),
    "ss_issuers": ("protection", "software_statement_keys", "issuers"),
    "sr_jwks_uri": ("protection", "signed_request_keys", "jwks_uri"),
    "sr_jwks": ("protection", "signed_request_keys", "jwks"),
    "cimd_enabled": ("client_id_metadata_documents", "enabled"),
    "cimd_allowed_hosts": ("client_id_metadata_documents", "allowed_hosts"),
    "cimd_denied_hosts": ("client_id_metadata_documents", "denied_hosts"),
}
# The form's checkboxes: a browser sends one only when it is ticked, so the form also sends `boxes` naming
# each of them; a box it names but does not send is off.
BOXES = ("grant_types", "require_software_statement", "require_signed_request", "cimd_enabled", *FLAGS)


# The provider page by task: each tab shows (and posts) its own settings; "all" shows every one on one page.
TABS: dict[str, tuple[str, tuple[str, ...]]] = {
    "registration": ("Registration", ("allow_open_registration", "dcr_script", "registration_scope_allowlist",
                                      "registration_access_token_lifetime", *NESTED)),
    "tokens": ("Tokens", ("grant_types", "access_token_lifetime", "refresh_token_lifetime", "token_format",
                          "signing_alg", "issue_refresh_tokens", "dpop_nonce_required")),
    "exchange": ("Token exchange", ("max_delegation_depth", "exchange_null_refresh_token")),
    "federation": ("Agents without secrets", ("federation",)),
    "sessions": ("Sign-in & sessions", ("session_lifetime", "pkce_optional_for_confidential_clients",
                                        "skip_consent_for_applications", "refresh_requires_offline_access",
                                        "scope_descriptions")),
}


def tab_of(page: Page) -> str:
    tab = page.value("tab") or page.request.query_params.get("tab", "registration")
    return tab if tab in TABS or tab == "all" else "registration"


class FormError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _jwks(page: Page, name: str) -> dict[str, Any] | None:
    raw = page.value(name)
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise FormError(name, "not valid JSON.") from exc
    if not isinstance(value, dict) or not isinstance(value.get("keys"), list):
        raise FormError(name, 'a JWK Set is an object with a "keys" list.')
    return value


def _federation(page: Page, name: str) -> dict[str, Any]:
    """The federation settings as JSON (trusted workload issuers, ID-JAG issuers and rules); empty: none."""
    raw = page.value(name)
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise FormError(name, "not valid JSON.") from exc
    if not isinstance(value, dict):
        raise FormError(name, "a JSON object (workload_issuers, id_jag_issuers, id_jag_rules, id_jag_lifetime).")
    return value


def federation_json(federation: Any) -> str:
    """The federation settings as the form shows them: indented JSON."""
    return json.dumps(federation.model_dump(mode="json"), indent=2)


def _checked(page: Page, name: str) -> bool:
    return page.checked(name)


def _words(page: Page, name: str) -> list[str]:
    return page.words(name)


def _text(page: Page, name: str) -> str | None:
    return page.value(name) or None


# How each form field's posted value is read (any other field: its text, empty meaning none).
READERS: dict[str, Callable[[Page, str], Any]] = {
    "grant_types": lambda page, name: page.values(name),
    "scope_descriptions": lambda page, _: _scope_descriptions(page),
    "ss_jwks": _jwks, "sr_jwks": _jwks, "federation": _federation,
    **dict.fromkeys((*NUMBERS, "policy_max_clients", "policy_rate_limit_per_minute"), _number),
    **dict.fromkeys(("registration_scope_allowlist", "policy_allowed_scopes", "policy_allowed_redirect_hosts",
                     "ss_issuers", "cimd_allowed_hosts", "cimd_denied_hosts"), _words),
    **dict.fromkeys(BOXES[1:], _checked),
}


def _read(page: Page, name: str) -> Any:
    return READERS.get(name, _text)(page, name)


def _posted(page: Page, name: str) -> bool:
    """Whether the post names field `name`: a field it leaves out leaves its setting as it is, so a partial
    post changes only what it names (as a JSON merge patch of the settings does)."""
    return name in page.form or (name in BOXES and name in page.values("boxes"))


def settings_changes(page: Page, current: dict[str, Any]) -> dict[str, Any]:
    """The settings the posted form names, with their posted values (`protection` and
    `client_id_metadata_documents` merged member by member)."""
    changes = {name: _read(page, name) for name in (*TOP_FIELDS, *NUMBERS, *FLAGS) if _posted(page, name)}
    groups = {top: copy.deepcopy(current[top]) for top in dict.fromkeys(where[0] for where in NESTED.values())}
    for name, (top, *path, last) in NESTED.items():
        if _posted(page, name):
            reduce(lambda node, key: node[key], path, groups[top])[last] = _read(page, name)
    for top, value in groups.items():
        if value != current[top]:
            changes[top] = value
    return changes


def _flatten(errors: dict[str, str], exc: Exception) -> dict[str, str]:
    if isinstance(exc, FormError):
        return {exc.field: str(exc)}
    for name in list(errors):
        if name.startswith("scope_descriptions."):  # one scope's text: shown at the field
            errors.setdefault("scope_descriptions", f"{name.split('.', 1)[1]}: {errors.pop(name)}")
    if isinstance(exc, ValidationError):
        for err in exc.errors():
            loc = tuple(str(p) for p in err.get("loc", ()))
            for name, where in NESTED.items():
                if loc[:len(where)] == where:
                    errors[name] = says(err)
    return errors


def settings_page(page: Page) -> Response:
    realm = page.services.realm(page.realm)
    errors: dict[str, str] = {}
    shown = realm.settings
    tab = tab_of(page)
    if page.request.method == "POST":
        try:
            current = realm.settings.model_dump(mode="json")
            changes = {k: v for k, v in settings_changes(page, current).items() if not same(v, current.get(k), k)}
            if changes:
                realms.update_settings(page.services, realm.name, changes, actor=page.admin)
            return page.redirect(f"/admin/r/{realm.name}/settings?tab={tab}", "Settings saved.")
        except (OAuthError, ValidationError, FormError) as exc:
            errors = _flatten(field_errors(exc), exc)
    scripts = [("", "— none —")] + [(s.id, s.name) for s in usecases.list_scripts(page.services, realm.name)]
    posted = page.form if errors else {}

    def f(name: str, stored: Any) -> Any:
        """On a refused save, show what was typed; otherwise the stored value."""
        return page.value(name) if posted else stored

    def on(name: str, stored: bool) -> bool:
        return page.checked(name) if posted else stored

    def sel(name: str, stored: Any) -> Any:
        return page.values(name) if posted else stored

    fields = {f for _, names in TABS.values() for f in names} if tab == "all" else set(TABS[tab][1])
    if errors and tab != "all" and not set(errors) <= fields | {"form"}:
        tab, fields = "all", {f for _, names in TABS.values() for f in names}  # show a refusal where it is
    return page.render("settings.html", s=shown, errors=errors, f=f, on=on, sel=sel, notice=page.request.query_params.get("notice"),
                       grant_options=grant_options(realm.settings.grant_types), scope_lines=scope_lines,
                       script_options=scripts, boxes=[b for b in BOXES if b in fields], tab=tab, tabs=TABS,
                       shows=fields.__contains__, federation_json=federation_json, status=400 if errors else 200)


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
