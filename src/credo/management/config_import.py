"""Import a declarative configuration document (see docs/config-schema.md), idempotently.

Import accepts either clear secrets (hashed on import) or their hashes. Users are referred to by
username in groups and policies. Entries that already match are neither written nor audited, so
importing the same document twice changes nothing the second time. What an import keeps of an existing
realm (it adds, it never switches off or resets) is import_merge.py's rule. A document refused for its shape,
its references (import_checks.py) or any record's values (rehearsed first, import_rehearsal.py) changes
nothing: nothing is written until the whole document went through.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from pydantic import ValidationError

from credo.domain.errors import InvalidRequest, OAuthError
from credo.domain.models import DPOP_BOUND, AuditEvent, Client, User
from credo.domain.settings import GRANT_TOKEN_EXCHANGE, ProviderSettings
from credo.keys.secrets import WeakSecret, new_secret
from credo.management import clients, realms, usecases
from credo.management.client_signin import SIGNIN_FIELDS
from credo.management.clients import client_keys
from credo.management.import_checks import Items, check_document
from credo.management.import_merge import added, client_value, same_secret, settings_patch
from credo.management.import_rehearsal import rehearsal_services
from credo.management.import_shape import items_of, need
from credo.management.messages import says, where
from credo.management.overrides import override_warnings
from credo.management.users import check_email, check_name
from credo.oauth.services import Services

FORMAT_VERSION = 1
APPLICATION_KEYS = ("owners", "app_type", *SIGNIN_FIELDS)  # keys only applications have
CLIENT_KEYS = ("name", "grant_types", "scopes", "auth_method", "enabled", "attributes", *APPLICATION_KEYS)
# Told how far an import is: (phase, done, total); phases: "secrets" (argon2, in parallel), then the sections.
Progress = Callable[[str, int, int], None]


def import_document(services: Services, doc: dict[str, Any], *, actor: str = "import",
                    progress: Progress | None = None) -> dict[str, int]:
    """Make the realm match the document; returns how many entries were created or changed.

    All or nothing: the document's shape and references are checked, then the whole import is
    rehearsed on an in-memory copy of the records it touches (import_rehearsal.py), with the same use
    cases; only when every record went through is it applied to the store. A refused document raises
    InvalidRequest naming the field, the record and the rule, and changes nothing."""
    if not isinstance(doc, dict) or not isinstance(doc.get("realm"), str):
        raise InvalidRequest("no realm", description="realm: the document must name a realm.")
    if doc.get("version", FORMAT_VERSION) != FORMAT_VERSION:
        raise InvalidRequest("version", description=f"version: only version {FORMAT_VERSION} is supported.")
    realm = doc["realm"]
    sections = {section: items_of(doc, section)  # check every entry's shape before writing anything
                for section in ("scripts", "users", "groups", "applications", "agents")}
    settings = doc.get("settings") or {}
    check_document(services, realm, sections, settings)  # and what it refers to
    to_hash, to_verify = _argon2_work(services, realm, sections)
    tell = (lambda done, total: progress("secrets", done, total)) if progress is not None else None
    with services.hasher.ahead(to_hash, to_verify, progress=tell):  # the argon2 work first, in parallel
        _apply(rehearsal_services(services, realm, sections), realm, sections, settings, actor)  # every record
        return _apply(services, realm, sections, settings, actor, progress)


def _argon2_work(services: Services, realm: str, sections: Items) -> tuple[list[str], list[tuple[str, str]]]:
    """The clear passwords and secrets the import will hash (new entries, and those it may reset) and the
    stored argon2 hashes it will check them against (existing entries), so that they run in parallel."""
    hasher, to_hash, to_verify = services.hasher, [], []
    entries: list[tuple[Any, Any, bool, str | None]] = []  # (clear, reset, exists, stored hash)
    for u in sections["users"]:
        user = services.storage.users.by_username(realm, u["username"])
        entries.append((u.get("password"), u.get("reset_password"), user is not None, user.password_hash if user else None))
    for c in sections["applications"] + sections["agents"]:
        client = services.storage.clients.get(realm, c["client_id"])
        entries.append((c.get("secret"), c.get("reset_secret"), client is not None, client.secret_hash if client else None))
    for clear, reset, exists, stored in entries:
        if not clear or not isinstance(clear, str):
            continue
        if not exists or reset:
            to_hash.append(clear)
        if exists and hasher.is_slow(stored):
            to_verify.append((clear, str(stored)))
    return to_hash, to_verify


def import_warnings(services: Services, doc: dict[str, Any]) -> list[str]:
    """What an imported document set that does nothing: provider overrides of its applications and agents
    while `providerOverridesEnabled` is off (kept as written: an export of a realm where an administrator
    turned overrides off imports back unchanged)."""
    out = []
    for section in ("applications", "agents"):
        for i, item in enumerate(items_of(doc, section)):
            client = services.storage.clients.get(doc["realm"], str(item.get("client_id")))
            if client is not None:
                out += [f"{section}[{i}] '{client.client_id}': {warning}" for warning in override_warnings(client)]
    return out


def _apply(services: Services, realm: str, sections: Items, settings: dict[str, Any], actor: str,
           progress: Progress | None = None) -> dict[str, int]:
    counts = {"realm": 0, "settings": 0, "scripts": 0, "users": 0, "groups": 0, "applications": 0, "agents": 0,
              "policies": 0, "secrets_kept": 0}
    if services.storage.realms.get(realm) is None:
        with _entry("realm", ""):
            realms.ensure_realm(services, realm, _first_settings(settings), actor=actor)
        counts["realm"] = 1
    script_ids: dict[str, str] = {}
    for i, s in enumerate(sections["scripts"]):
        with _entry("scripts", f"scripts[{i}]", s["name"]):
            script_ids[s["name"]] = _script(services, realm, s, actor, counts)
    with _entry("settings", ""):
        counts["settings"] = _settings(services, realm, settings, script_ids, actor, new_realm=counts["realm"] == 1)
    user_ids: dict[str, str] = {}
    tell = progress or (lambda _phase, _done, _total: None)
    for i, u in enumerate(sections["users"]):
        with _entry("users", f"users[{i}]", u["username"]):
            user_ids[u["username"]] = _user(services, realm, u, actor, counts)
        tell("users", i + 1, len(sections["users"]))
    for i, g in enumerate(sections["groups"]):
        with _entry("groups", f"groups[{i}]", g["name"]):
            _group(services, realm, g, user_ids, actor, counts)
        tell("groups", i + 1, len(sections["groups"]))
    for i, a in enumerate(sections["applications"]):
        with _entry("applications", f"applications[{i}]", a["client_id"]):
            _client(services, realm, "application", a, actor, counts)
        tell("applications", i + 1, len(sections["applications"]))
    for i, a in enumerate(sections["agents"]):
        with _entry("agents", f"agents[{i}]", a["client_id"]):
            _client(services, realm, "agent", a, actor, counts)
        for j, p in enumerate(a.get("policies") or []):
            with _entry("agents.policies", f"agents[{i}].policies[{j}]", p["application"]):
                _policy(services, realm, a["client_id"], p, user_ids, actor, counts)
        tell("agents", i + 1, len(sections["agents"]))
    return counts


def _first_settings(settings: dict[str, Any]) -> ProviderSettings:
    """A new realm's settings before the document's are applied: its signing algorithm (the first key's)."""
    alg = settings.get("signing_alg")
    return ProviderSettings() if alg is None else ProviderSettings(signing_alg=alg)


# A use case names its own parameter; the document's name for it, where they differ.
DOC_FIELDS = {"client_secret": "secret", "user_id": "id", "application_id": "application",
              "agent_id": "client_id", "token_endpoint_auth_method": "auth_method"}


@contextmanager
def _entry(section: str, where: str, name: str = "") -> Iterator[None]:
    """Re-raise a use case's refusal of one record as `{section}.{field}: {record}: {rule}`."""
    try:
        yield
    except (OAuthError, WeakSecret) as exc:
        text = exc.description if isinstance(exc, OAuthError) else f"client_secret: {exc}."
        head, sep, rule = text.partition(": ")
        if not sep or " " in head:
            head, rule = "", text
        if not head:
            field = section
        elif head == section or head.startswith(section + "."):
            field = head  # already named in the document's terms
        else:
            field = f"{section}.{DOC_FIELDS.get(head, head)}"
        record = f"{where} '{_short(name)}': " if where else ""
        raise InvalidRequest(f"import {field}: {exc}", description=f"{field}: {record}{rule}") from exc


def _short(name: str) -> str:
    return name if len(name) <= 40 else name[:40] + "..."


def _script(services: Services, realm: str, s: dict[str, Any], actor: str, counts: dict[str, int]) -> str:
    name, source = need(s, "scripts", "name"), need(s, "scripts", "source")
    current = next((x for x in usecases.list_scripts(services, realm) if x.name == name), None)
    if current is None:
        counts["scripts"] += 1
        return usecases.create_script(services, realm, name=name, source=source,
                                      description=str(s.get("description") or ""), actor=actor).id
    description = current.description if s.get("description") is None else str(s["description"])
    if (current.source, current.description) != (source, description):
        counts["scripts"] += 1
        usecases.update_script(services, realm, current.id, source=source, description=description, actor=actor)
    return current.id


def _settings(services: Services, realm: str, wanted: dict[str, Any], script_ids: dict[str, str], actor: str, *,
              new_realm: bool) -> int:
    """Apply the document's settings as a merge patch (import_merge.settings_patch); 1 if they changed."""
    if not isinstance(wanted, dict):
        raise InvalidRequest("settings", description="settings: must be an object.")
    wanted = dict(wanted)
    script = wanted.get("dcr_script")
    if script:
        known = {s.name: s.id for s in usecases.list_scripts(services, realm)} | script_ids
        wanted["dcr_script"] = known.get(script, script)
    current = realms.get_realm(services, realm).settings
    patch = settings_patch(None if new_realm else current, wanted)
    try:
        merged = realms.patched_settings(current, patch)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InvalidRequest("settings", description=f"settings.{where(first)}: {says(first)}") from exc
    if merged == current:
        return 0
    realms.patch_settings(services, realm, patch, actor=actor)
    return 1


def _user(services: Services, realm: str, u: dict[str, Any], actor: str, counts: dict[str, int]) -> str:
    username = need(u, "users", "username")
    password, password_hash = u.get("password"), u.get("password_hash")
    if not password and not password_hash:
        raise InvalidRequest("no password", description=f"users.password: '{username}' needs password or password_hash.")
    current = services.storage.users.by_username(realm, username)
    if current is None:
        counts["users"] += 1
        current = usecases.create_user(services, realm, username, password or _placeholder(),
                                       active=bool(u.get("active", True)), user_id=u.get("id"),
                                       name=u.get("name") or "", email=u.get("email") or "", actor=actor)
        if not password:
            services.storage.users.put(replace(current, password_hash=str(password_hash)))
        return current.id
    if _update_user(services, realm, current, u, actor, counts):
        counts["users"] += 1
    return current.id


def _update_user(services: Services, realm: str, current: User, u: dict[str, Any], actor: str,
                 counts: dict[str, int]) -> bool:
    """Bring an existing user in line with what the entry names; whether anything changed. The password
    changes only with `reset_password: true` (a different one is otherwise counted in `secrets_kept`)."""
    changed = False
    profile = _profile_changes(current, u)
    if profile:
        current = usecases.update_user(services, realm, current.id, name=profile.get("name"),
                                       email=profile.get("email"), actor=actor)
        changed = True
    password, password_hash = u.get("password"), u.get("password_hash")
    if not same_secret(services.hasher, password, password_hash, current.password_hash):
        if not u.get("reset_password"):
            counts["secrets_kept"] += 1
        elif password:
            current = usecases.update_user(services, realm, current.id, password=password, actor=actor)
            changed = True
        else:
            current = replace(current, password_hash=str(password_hash))
            services.storage.users.put(current)
            services.audit(AuditEvent(realm=realm, action="user.update", actor=actor, target=current.id))
            changed = True
    if u.get("active") is not None and current.active != u["active"]:
        usecases.update_user(services, realm, current.id, active=u["active"], actor=actor)
        changed = True
    return changed


def _profile_changes(current: User, u: dict[str, Any]) -> dict[str, str]:
    """The profile attributes the document gives that differ (compared as the use case stores them)."""
    wanted = {"name": None if u.get("name") is None else check_name(u["name"]),
              "email": None if u.get("email") is None else check_email(u["email"])}
    return {k: v for k, v in wanted.items() if v is not None and v != getattr(current, k)}


def _placeholder() -> str:
    return new_secret()


def _group(services: Services, realm: str, g: dict[str, Any], user_ids: dict[str, str], actor: str,
           counts: dict[str, int]) -> None:
    name = need(g, "groups", "name")
    members = [_user_id(services, realm, m, user_ids, "groups.members") for m in g.get("members") or []]
    current = services.storage.groups.get(realm, name)
    if current is not None:
        members = list(added(current.members, members))  # members are added, never removed
        if sorted(current.members) == sorted(members):
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
    client_id = need(c, section, "client_id")
    current = services.storage.clients.get(realm, client_id)
    if current is not None and current.kind != kind:
        raise InvalidRequest("kind", description=f"{section}.client_id: '{client_id}' exists as a {current.kind}.")
    if current is None:
        counts[section] += 1
        current = _create(services, realm, kind, client_id, c, actor)
        hashed = {} if c.get("secret") or not c.get("secret_hash") else {"secret_hash": c["secret_hash"]}
        return _reconcile(services, current, c, actor, counts, section, extra=hashed, count=False)
    changes = _secret_change(services, current, c, actor, counts, section)
    _reconcile(services, current, c, actor, counts, section, extra=changes)


def _secret_change(services: Services, current: Client, c: dict[str, Any], actor: str, counts: dict[str, int],
                   section: str) -> dict[str, Any]:
    """An existing client's secret changes only with `reset_secret: true` (a different one is otherwise
    counted in `secrets_kept`); returns the change left for _reconcile (a hash given as such)."""
    secret, secret_hash = c.get("secret"), c.get("secret_hash")
    if same_secret(services.hasher, secret, secret_hash, current.secret_hash):
        return {}
    if not c.get("reset_secret"):
        counts["secrets_kept"] += 1
        return {}
    if not secret:
        return {"secret_hash": secret_hash}
    clients.set_secret(services, current.realm, current.client_id, secret, actor=actor)
    counts[section] += 1
    return {}


def _create(services: Services, realm: str, kind: str, client_id: str, c: dict[str, Any], actor: str) -> Client:
    common = {"name": c.get("name") or client_id, "secret": c.get("secret") or None,
              "scopes": tuple(c.get("scopes") or ()), "auth_method": c.get("auth_method", "client_secret_post"),
              "keys": c.get("keys")}
    if kind == "application":
        client, _ = usecases.create_application(
            services, realm, client_id, app_type=c.get("app_type") or "service",
            grant_types=tuple(c.get("grant_types") or ("client_credentials",)),
            owners=tuple(c.get("owners") or ()), redirect_uris=tuple(c.get("redirect_uris") or ()),
            post_logout_redirect_uris=tuple(c.get("post_logout_redirect_uris") or ()),
            resources=tuple(c.get("resources") or ()), application_type=c.get("application_type") or "web",
            skip_consent=bool(c.get("skip_consent", False)), actor=actor, **common)
    else:
        attrs = c.get("attributes") or {}
        overrides = _flag(attrs, "providerOverridesEnabled")  # overrides without it are kept as written (by
        client, _ = usecases.create_agent(                    # the attributes' reconciliation) and warned of
            services, realm, client_id,
            grant_types=tuple(c.get("grant_types") or ("client_credentials", GRANT_TOKEN_EXCHANGE)),
            overrides_enabled=overrides, stateless_tokens=overrides and _flag(attrs, "statelessTokensEnabled"),
            accept_audience=overrides and _flag(attrs, "acceptAudienceParametersInTokenExchangeRequests"),
            actor=actor, **common)
    return client


def _flag(attrs: dict[str, Any], name: str) -> bool:
    values = attrs.get(name) or []
    return bool(values) and str(values[0]).lower() == "true"


def _reconcile(services: Services, current: Client, c: dict[str, Any], actor: str, counts: dict[str, int],
               section: str, *, extra: dict[str, Any] | None = None, count: bool = True) -> None:
    changes: dict[str, Any] = dict(extra or {})
    for key in CLIENT_KEYS:
        if key not in c or (key in APPLICATION_KEYS and current.kind != "application"):
            continue
        wanted = client_value(current, key, c[key])
        if getattr(current, key) != wanted:
            changes[key] = wanted
    if DPOP_BOUND in c and c[DPOP_BOUND] != current.dpop_bound:  # RFC 9449 §5.2, kept in the client's metadata
        changes[DPOP_BOUND] = c[DPOP_BOUND]
    if c.get("keys") is not None and c["keys"] != client_keys(current):
        changes["keys"] = c["keys"]  # private_key_jwt: the client's public keys, replaced as a whole
    if changes:
        if count:
            counts[section] += 1
        clients.update_client(services, current.realm, current.client_id, changes, actor=actor)


def _policy(services: Services, realm: str, agent_id: str, p: dict[str, Any], user_ids: dict[str, str], actor: str,
            counts: dict[str, int]) -> None:
    app = need(p, "agents.policies", "application")
    subjects = tuple(_user_id(services, realm, s, user_ids, "agents.policies.subjects") for s in p.get("subjects") or [])
    groups, permissions = tuple(p.get("subject_groups") or ()), tuple(p.get("permissions") or ())
    current = services.storage.policies.get(realm, agent_id, app)
    if current is not None:  # who it acts for is added to; its permissions (a limit) are set only when given
        subjects, groups = added(current.subjects, subjects), added(current.subject_groups, groups)
        permissions = current.permissions if p.get("permissions") is None else permissions
        if (current.subjects, current.subject_groups, current.permissions) == (subjects, groups, permissions):
            return
    counts["policies"] += 1
    usecases.put_policy(services, realm, agent_id, app, subjects=subjects, subject_groups=groups,
                      permissions=permissions, actor=actor)
