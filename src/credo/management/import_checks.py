"""Everything an import document refers to is checked against the document and the current state
before the import writes anything, so a document refused for its meaning changes nothing.

Storage offers no transaction across repositories, hence this check-first pass: it refuses what the
writes would refuse part-way (unknown users, groups and applications, a client id taken by another
kind, bad client fields, invalid settings), each with a description that names the field.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from credo.domain.errors import InvalidRequest
from credo.domain.models import AUTH_METHODS
from credo.domain.settings import KNOWN_GRANT_TYPES, ProviderSettings
from credo.management.applications import check_scopes
from credo.management.client_signin import SIGNIN_FIELDS
from credo.management.clients import CLIENT_ID
from credo.management.groups import GROUP_NAME
from credo.management.import_merge import settings_patch
from credo.management.messages import says, where
from credo.management.realms import patched_settings
from credo.oauth.services import Services

Items = dict[str, list[dict[str, Any]]]


def check_document(services: Services, realm: str, sections: Items, settings: Any) -> None:
    """Raise InvalidRequest for the first reference or value the import would refuse part-way."""
    usernames = {u["username"] for u in sections["users"]}
    groups = {g["name"] for g in sections["groups"]}
    for g in sections["groups"]:
        if not GROUP_NAME.match(g["name"]):
            raise _bad("groups.name", f"'{g['name']}' is not a valid group name")
        for member in g.get("members") or []:
            _user(services, realm, member, usernames, "groups.members")
    kinds = _client_kinds(services, realm, sections)
    for c in sections["applications"] + sections["agents"]:
        _client_fields(c, "applications" if kinds[c["client_id"]] == "application" else "agents")
    for agent in sections["agents"]:
        for p in agent.get("policies") or []:
            _policy(services, realm, p, usernames, groups, kinds)
    _settings(services, realm, settings, {s["name"] for s in sections["scripts"]})


def _bad(field: str, message: str) -> InvalidRequest:
    return InvalidRequest(f"import {field}", description=f"{field}: {message}.")


def _user(services: Services, realm: str, name: str, usernames: set[str], field: str) -> None:
    users = services.storage.users
    if name not in usernames and users.by_username(realm, name) is None and users.get(realm, name) is None:
        raise _bad(field, f"user '{name}' does not exist")


def _client_kinds(services: Services, realm: str, sections: Items) -> dict[str, str]:
    kinds: dict[str, str] = {}
    for section, kind in (("applications", "application"), ("agents", "agent")):
        for c in sections[section]:
            client_id = c["client_id"]
            current = services.storage.clients.get(realm, client_id)
            other = kinds.get(client_id) or (current.kind if current is not None else kind)
            if other != kind:
                raise _bad(f"{section}.client_id", f"'{client_id}' exists as a {other}")
            kinds[client_id] = kind
    return kinds


def _client_fields(c: dict[str, Any], section: str) -> None:
    if not CLIENT_ID.match(c["client_id"]):
        raise _bad(f"{section}.client_id", "use only letters, digits, '-' and '_'")
    if c.get("auth_method", "client_secret_post") not in AUTH_METHODS:
        raise _bad(f"{section}.auth_method", f"must be one of {', '.join(AUTH_METHODS)}")
    unknown = [g for g in c.get("grant_types") or () if g not in KNOWN_GRANT_TYPES]
    if unknown:
        raise _bad(f"{section}.grant_types", f"unknown {', '.join(unknown)}")
    if section == "applications" and c.get("app_type") not in (None, "", "web", "service"):
        raise _bad("applications.app_type", "must be 'web' or 'service'")
    agent_only = [k for k in SIGNIN_FIELDS if k in c] if section == "agents" else []
    if agent_only:
        raise _bad(f"agents.{agent_only[0]}", "only applications have browser sign-in settings")
    check_scopes(f"{section}.scopes", c.get("scopes") or ())


def _policy(services: Services, realm: str, p: dict[str, Any], usernames: set[str], groups: set[str],
            kinds: dict[str, str]) -> None:
    app = p["application"]
    current = services.storage.clients.get(realm, app)
    if kinds.get(app, current.kind if current is not None else None) != "application":
        raise _bad("agents.policies.application", f"application '{app}' does not exist")
    for subject in p.get("subjects") or []:
        _user(services, realm, subject, usernames, "agents.policies.subjects")
    for group in p.get("subject_groups") or []:
        if group not in groups and services.storage.groups.get(realm, group) is None:
            raise _bad("agents.policies.subject_groups", f"group '{group}' does not exist")
    check_scopes("agents.policies.permissions", p.get("permissions") or ())


def _settings(services: Services, realm: str, wanted: Any, script_names: set[str]) -> None:
    if not isinstance(wanted, dict):
        raise _bad("settings", "must be an object")
    current = services.storage.realms.get(realm)
    base = current.settings if current is not None else ProviderSettings()
    changes = dict(wanted)
    if changes.get("dcr_script") in script_names:
        changes.pop("dcr_script")  # created by this import; its id is not known yet
    try:
        patched_settings(base, settings_patch(None if current is None else base, changes))
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InvalidRequest("settings", description=f"settings.{where(first)}: {says(first)}") from exc
    except InvalidRequest as exc:  # a rule beyond the types (a grant the realm cannot have, a scope description)
        raise InvalidRequest("settings", description=f"settings.{exc.description}") from exc
