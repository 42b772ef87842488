"""Import a declarative configuration document (see docs/config-schema.md), idempotently.

Import accepts either clear secrets (hashed on import) or their hashes. Users are referred to by
username in groups and policies. Entries that already match are neither written nor audited, so
importing the same document twice changes nothing the second time.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from pydantic import ValidationError

from credo.domain.errors import InvalidRequest
from credo.domain.models import AuditEvent, Client
from credo.domain.settings import GRANT_TOKEN_EXCHANGE, ProviderSettings
from credo.keys.secrets import new_secret
from credo.management import clients, realms, usecases
from credo.oauth.services import Services

FORMAT_VERSION = 1
CLIENT_KEYS = ("name", "grant_types", "scopes", "auth_method", "enabled", "attributes", "owners", "app_type")


def import_document(services: Services, doc: dict[str, Any], *, actor: str = "import") -> dict[str, int]:
    """Make the realm match the document; returns how many entries were created or changed."""
    if not isinstance(doc, dict) or not isinstance(doc.get("realm"), str):
        raise InvalidRequest("no realm", description="realm: the document must name a realm.")
    if doc.get("version", FORMAT_VERSION) != FORMAT_VERSION:
        raise InvalidRequest("version", description=f"version: only version {FORMAT_VERSION} is supported.")
    realm = doc["realm"]
    for section in ("scripts", "users", "groups", "applications", "agents"):
        _items(doc, section)  # check every entry's shape before writing anything
    counts = {"realm": 0, "settings": 0, "scripts": 0, "users": 0, "groups": 0, "applications": 0, "agents": 0,
              "policies": 0}
    if services.storage.realms.get(realm) is None:
        realms.ensure_realm(services, realm, actor=actor)
        counts["realm"] = 1
    script_ids = {s["name"]: _script(services, realm, s, actor, counts) for s in _items(doc, "scripts")}
    counts["settings"] = _settings(services, realm, doc.get("settings") or {}, script_ids, actor)
    user_ids = {u["username"]: _user(services, realm, u, actor, counts) for u in _items(doc, "users")}
    for g in _items(doc, "groups"):
        _group(services, realm, g, user_ids, actor, counts)
    for a in _items(doc, "applications"):
        _client(services, realm, "application", a, actor, counts)
    for a in _items(doc, "agents"):
        _client(services, realm, "agent", a, actor, counts)
        for p in a.get("policies") or []:
            _policy(services, realm, a["client_id"], p, user_ids, actor, counts)
    return counts


def _items(doc: dict[str, Any], key: str) -> list[dict[str, Any]]:
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


LIST_FIELDS = ("scopes", "grant_types", "owners", "members", "subjects", "subject_groups", "permissions")


REQUIRED = {"scripts": ("name", "source"), "users": ("username",), "groups": ("name",),
            "applications": ("client_id",), "agents": ("client_id",), "agents.policies": ("application",)}


def _check_types(item: dict[str, Any], section: str) -> None:
    """Required names present; lists are lists of strings, flags booleans, attributes a map of string lists."""
    for name in REQUIRED.get(section, ()):
        _need(item, section, name)
    if section == "users" and not item.get("password") and not item.get("password_hash"):
        raise InvalidRequest("no password", description=f"users.password: '{item['username']}' needs password or "
                                                        "password_hash.")
    for name in LIST_FIELDS:
        value = item.get(name)
        if value is not None and (not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
            raise InvalidRequest(f"{section}.{name}", description=f"{section}.{name}: must be a list of strings.")
    for name in ("active", "enabled"):
        if name in item and not isinstance(item[name], bool):
            raise InvalidRequest(f"{section}.{name}", description=f"{section}.{name}: must be true or false.")
    for name in ("secret", "secret_hash", "password", "password_hash", "name", "description", "source", "id"):
        if item.get(name) is not None and not isinstance(item[name], str):
            raise InvalidRequest(f"{section}.{name}", description=f"{section}.{name}: must be a string.")
    attrs = item.get("attributes")
    if attrs is not None and (not isinstance(attrs, dict) or not all(
            isinstance(v, list) and all(isinstance(x, str) for x in v) for v in attrs.values())):
        raise InvalidRequest(f"{section}.attributes",
                             description=f"{section}.attributes: must map names to lists of strings.")


def _need(item: dict[str, Any], section: str, name: str) -> str:
    value = item.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidRequest(f"missing {section}.{name}", description=f"{section}.{name}: required.")
    return value


def _script(services: Services, realm: str, s: dict[str, Any], actor: str, counts: dict[str, int]) -> str:
    name, source = _need(s, "scripts", "name"), _need(s, "scripts", "source")
    description = str(s.get("description") or "")
    current = next((x for x in usecases.list_scripts(services, realm) if x.name == name), None)
    if current is None:
        counts["scripts"] += 1
        return usecases.create_script(services, realm, name=name, source=source, description=description,
                                    actor=actor).id
    if (current.source, current.description) != (source, description):
        counts["scripts"] += 1
        usecases.update_script(services, realm, current.id, source=source, description=description, actor=actor)
    return current.id


def _settings(services: Services, realm: str, wanted: dict[str, Any], script_ids: dict[str, str], actor: str) -> int:
    if not isinstance(wanted, dict):
        raise InvalidRequest("settings", description="settings: must be an object.")
    wanted = dict(wanted)
    script = wanted.get("dcr_script")
    if script:
        known = {s.name: s.id for s in usecases.list_scripts(services, realm)} | script_ids
        wanted["dcr_script"] = known.get(script, script)
    current = realms.get_realm(services, realm).settings
    try:
        merged = ProviderSettings.model_validate({**current.model_dump(), **wanted})
    except ValidationError as exc:
        loc = ".".join(str(p) for p in exc.errors()[0].get("loc", ()))
        raise InvalidRequest("settings", description=f"settings.{loc}: {exc.errors()[0]['msg']}") from exc
    if merged == current:
        return 0
    realms.update_settings(services, realm, wanted, actor=actor)
    return 1


def _user(services: Services, realm: str, u: dict[str, Any], actor: str, counts: dict[str, int]) -> str:
    username = _need(u, "users", "username")
    password, password_hash = u.get("password"), u.get("password_hash")
    if not password and not password_hash:
        raise InvalidRequest("no password", description=f"users.password: '{username}' needs password or password_hash.")
    current = services.storage.users.by_username(realm, username)
    active = bool(u.get("active", True))
    if current is None:
        counts["users"] += 1
        current = usecases.create_user(services, realm, username, password or _placeholder(), active=active,
                                     user_id=u.get("id"), actor=actor)
        if not password:
            services.storage.users.put(replace(current, password_hash=str(password_hash)))
        return current.id
    same_secret = (services.hasher.verify(password, current.password_hash) if password
                   else password_hash == current.password_hash)
    if same_secret and current.active == active:
        return current.id
    counts["users"] += 1
    if password and not same_secret:
        current = usecases.update_user(services, realm, current.id, password=password, actor=actor)
    elif not same_secret:
        current = replace(current, password_hash=str(password_hash))
        services.storage.users.put(current)
        services.audit(AuditEvent(realm=realm, action="user.update", actor=actor, target=current.id))
    if current.active != active:
        current = usecases.update_user(services, realm, current.id, active=active, actor=actor)
    return current.id


def _placeholder() -> str:
    return new_secret()


def _group(services: Services, realm: str, g: dict[str, Any], user_ids: dict[str, str], actor: str,
           counts: dict[str, int]) -> None:
    name = _need(g, "groups", "name")
    members = [_user_id(services, realm, m, user_ids, "groups.members") for m in g.get("members") or []]
    current = services.storage.groups.get(realm, name)
    if current is not None and sorted(current.members) == sorted(members):
        return
    counts["groups"] += 1
    usecases.put_group(services, realm, name, members, actor=actor)


def _user_id(services: Services, realm: str, username: str, user_ids: dict[str, str], field: str) -> str:
    if username in user_ids:
        return user_ids[username]
    user = services.storage.users.by_username(realm, username) or services.storage.users.get(realm, username)
    if user is None:
        raise InvalidRequest("unknown user", description=f"{field}: user '{username}' does not exist.")
    return user.id


def _client(services: Services, realm: str, kind: str, c: dict[str, Any], actor: str, counts: dict[str, int]) -> None:
    section = "applications" if kind == "application" else "agents"
    client_id = _need(c, section, "client_id")
    secret, secret_hash = c.get("secret"), c.get("secret_hash")
    current = services.storage.clients.get(realm, client_id)
    if current is not None and current.kind != kind:
        raise InvalidRequest("kind", description=f"{section}.client_id: '{client_id}' exists as a {current.kind}.")
    if current is None:
        counts[section] += 1
        current = _create(services, realm, kind, client_id, c, actor)
        if secret:
            return _reconcile(services, current, c, actor, counts, section, count=False)
    changes = {}
    if secret and not services.hasher.verify(secret, current.secret_hash):
        clients.set_secret(services, realm, client_id, secret, actor=actor)
        counts[section] += 1
    elif not secret and secret_hash and secret_hash != current.secret_hash:
        changes["secret_hash"] = secret_hash
    _reconcile(services, current, c, actor, counts, section, extra=changes)


def _create(services: Services, realm: str, kind: str, client_id: str, c: dict[str, Any], actor: str) -> Client:
    common = {"name": c.get("name") or client_id, "secret": c.get("secret") or None,
              "scopes": tuple(c.get("scopes") or ()), "auth_method": c.get("auth_method", "client_secret_post")}
    if kind == "application":
        client, _ = usecases.create_application(
            services, realm, client_id, app_type=c.get("app_type") or "service",
            grant_types=tuple(c.get("grant_types") or ("client_credentials",)),
            owners=tuple(c.get("owners") or ()), actor=actor, **common)
    else:
        attrs = c.get("attributes") or {}
        client, _ = usecases.create_agent(
            services, realm, client_id,
            grant_types=tuple(c.get("grant_types") or ("client_credentials", GRANT_TOKEN_EXCHANGE)),
            overrides_enabled=_flag(attrs, "providerOverridesEnabled"),
            stateless_tokens=_flag(attrs, "statelessTokensEnabled"),
            accept_audience=_flag(attrs, "acceptAudienceParametersInTokenExchangeRequests"), actor=actor, **common)
    return client


def _flag(attrs: dict[str, Any], name: str) -> bool:
    values = attrs.get(name) or []
    return bool(values) and str(values[0]).lower() == "true"


def _reconcile(services: Services, current: Client, c: dict[str, Any], actor: str, counts: dict[str, int],
               section: str, *, extra: dict[str, Any] | None = None, count: bool = True) -> None:
    changes: dict[str, Any] = dict(extra or {})
    for key in CLIENT_KEYS:
        if key not in c or (key in ("owners", "app_type") and current.kind != "application"):
            continue
        wanted = c[key]
        if key == "attributes":
            wanted = {k: [str(x) for x in v] for k, v in (wanted or {}).items()}
        elif isinstance(wanted, list):
            wanted = tuple(wanted)
        if getattr(current, key) != wanted:
            changes[key] = wanted
    if changes:
        if count:
            counts[section] += 1
        clients.update_client(services, current.realm, current.client_id, changes, actor=actor)


def _policy(services: Services, realm: str, agent_id: str, p: dict[str, Any], user_ids: dict[str, str], actor: str,
            counts: dict[str, int]) -> None:
    app = _need(p, "agents.policies", "application")
    subjects = tuple(_user_id(services, realm, s, user_ids, "agents.policies.subjects") for s in p.get("subjects") or [])
    groups, permissions = tuple(p.get("subject_groups") or ()), tuple(p.get("permissions") or ())
    current = services.storage.policies.get(realm, agent_id, app)
    if current is not None and (current.subjects, current.subject_groups, current.permissions) == (
            subjects, groups, permissions):
        return
    counts["policies"] += 1
    usecases.put_policy(services, realm, agent_id, app, subjects=subjects, subject_groups=groups,
                      permissions=permissions, actor=actor)
