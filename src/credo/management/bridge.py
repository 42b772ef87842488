"""One door to the per-entity use cases (users, groups, applications, agents, policies, scripts).

Each call goes to the agreed module (`credo.management.users`, `.groups`, `.applications`, `.agents`,
`.scripts`) when it is part of this build; otherwise to the minimal equivalent below, which keeps the
same signature, audits the change and drops caches. The admin API, the console and import/export use
only this module, so they work the same either way.
"""

from __future__ import annotations

import importlib
import uuid
from dataclasses import replace
from types import ModuleType
from typing import Any

from credo.domain.errors import InvalidRequest, NotFound
from credo.domain.models import ApplicationPolicy, AuditEvent, Client, Group, Script, User
from credo.domain.settings import GRANT_TOKEN_EXCHANGE
from credo.management import clients as _clients
from credo.oauth.services import Services
from credo.storage.protocols import Conflict


def _module(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(f"credo.management.{name}")
    except ModuleNotFoundError:
        return None


def _call(module: str, function: str, *args: Any, **kwargs: Any) -> Any:
    mod = _module(module)
    target = getattr(mod, function, None) if mod else None
    if target is None:
        target = globals()[f"_{function}"]
    return target(*args, **kwargs)


def _audit(services: Services, realm: str, action: str, actor: str, target: str) -> None:
    services.audit(AuditEvent(realm=realm, action=action, actor=actor, target=target))
    services.changed()


# --- public API (agreed signatures) ----------------------------------------------------------------

def create_user(services: Services, realm: str, username: str, password: str, **kw: Any) -> User:
    return _call("users", "create_user", services, realm, username, password, **kw)  # type: ignore[no-any-return]


def get_user(services: Services, realm: str, user_id: str) -> User:
    return _call("users", "get_user", services, realm, user_id)  # type: ignore[no-any-return]


def list_users(services: Services, realm: str) -> list[User]:
    return _call("users", "list_users", services, realm)  # type: ignore[no-any-return]


def update_user(services: Services, realm: str, user_id: str, **kw: Any) -> User:
    return _call("users", "update_user", services, realm, user_id, **kw)  # type: ignore[no-any-return]


def delete_user(services: Services, realm: str, user_id: str, **kw: Any) -> None:
    _call("users", "delete_user", services, realm, user_id, **kw)


def put_group(services: Services, realm: str, name: str, members: list[str], **kw: Any) -> Group:
    return _call("groups", "put_group", services, realm, name, members, **kw)  # type: ignore[no-any-return]


def list_groups(services: Services, realm: str) -> list[Group]:
    return _call("groups", "list_groups", services, realm)  # type: ignore[no-any-return]


def delete_group(services: Services, realm: str, name: str, **kw: Any) -> None:
    _call("groups", "delete_group", services, realm, name, **kw)


def create_application(services: Services, realm: str, client_id: str, **kw: Any) -> tuple[Client, str | None]:
    return _call("applications", "create_application", services, realm, client_id, **kw)  # type: ignore[no-any-return]


def update_application(services: Services, realm: str, client_id: str, changes: dict[str, Any], **kw: Any) -> Client:
    return _call("applications", "update_application", services, realm, client_id, changes, **kw)  # type: ignore[no-any-return]


def list_applications(services: Services, realm: str) -> list[Client]:
    return _call("applications", "list_applications", services, realm)  # type: ignore[no-any-return]


def delete_application(services: Services, realm: str, client_id: str, **kw: Any) -> None:
    _call("applications", "delete_application", services, realm, client_id, **kw)


def create_agent(services: Services, realm: str, client_id: str, **kw: Any) -> tuple[Client, str | None]:
    return _call("agents", "create_agent", services, realm, client_id, **kw)  # type: ignore[no-any-return]


def update_agent(services: Services, realm: str, client_id: str, changes: dict[str, Any], **kw: Any) -> Client:
    return _call("agents", "update_agent", services, realm, client_id, changes, **kw)  # type: ignore[no-any-return]


def list_agents(services: Services, realm: str) -> list[Client]:
    return _call("agents", "list_agents", services, realm)  # type: ignore[no-any-return]


def delete_agent(services: Services, realm: str, client_id: str, **kw: Any) -> None:
    _call("agents", "delete_agent", services, realm, client_id, **kw)


def put_policy(services: Services, realm: str, agent_id: str, application_id: str, **kw: Any) -> ApplicationPolicy:
    return _call("agents", "put_policy", services, realm, agent_id, application_id, **kw)  # type: ignore[no-any-return]


def list_policies(services: Services, realm: str, agent_id: str) -> list[ApplicationPolicy]:
    return _call("agents", "list_policies", services, realm, agent_id)  # type: ignore[no-any-return]


def delete_policy(services: Services, realm: str, agent_id: str, application_id: str, **kw: Any) -> None:
    _call("agents", "delete_policy", services, realm, agent_id, application_id, **kw)


def create_script(services: Services, realm: str, **kw: Any) -> Script:
    return _call("scripts", "create_script", services, realm, **kw)  # type: ignore[no-any-return]


def update_script(services: Services, realm: str, script_id: str, **kw: Any) -> Script:
    return _call("scripts", "update_script", services, realm, script_id, **kw)  # type: ignore[no-any-return]


def get_script(services: Services, realm: str, script_id: str) -> Script:
    return _call("scripts", "get_script", services, realm, script_id)  # type: ignore[no-any-return]


def list_scripts(services: Services, realm: str) -> list[Script]:
    return _call("scripts", "list_scripts", services, realm)  # type: ignore[no-any-return]


def delete_script(services: Services, realm: str, script_id: str, **kw: Any) -> None:
    _call("scripts", "delete_script", services, realm, script_id, **kw)


def test_script(services: Services, realm: str, **kw: Any) -> Any:
    mod = _module("scripts")
    if mod is None or not hasattr(mod, "test_script"):
        raise InvalidRequest("script engine missing", description="source: the script engine is not available.")
    return mod.test_script(services, realm, **kw)


# --- minimal equivalents -----------------------------------------------------------------------------

def _create_user(services: Services, realm: str, username: str, password: str, *, active: bool = True,
                 user_id: str | None = None, actor: str = "system", password_hash: str | None = None) -> User:
    if not username or len(username) > 255:
        raise InvalidRequest("bad username", description="username: 1 to 255 characters are required.")
    if password_hash is None and len(password or "") < 8:
        raise InvalidRequest("short password", description="password: at least 8 characters are required.")
    if services.storage.users.by_username(realm, username) is not None:
        raise InvalidRequest("username taken", description=f"username: '{username}' already exists.")
    user = User(realm=realm, id=user_id or str(uuid.uuid4()), username=username,
                password_hash=password_hash or services.hasher.hash_password(password), active=active,
                created_at=services.clock.now())
    try:
        services.storage.users.put(user)
    except Conflict as exc:
        raise InvalidRequest("username taken", description=f"username: '{username}' already exists.") from exc
    _audit(services, realm, "user.create", actor, user.id)
    return user


def _get_user(services: Services, realm: str, user_id: str) -> User:
    user = services.storage.users.get(realm, user_id)
    if user is None:
        raise NotFound(f"user {user_id}", description=f"user_id: user '{user_id}' does not exist.")
    return user


def _find_user(services: Services, realm: str, username: str) -> User:
    user = services.storage.users.by_username(realm, username)
    if user is None:
        raise NotFound(f"user {username}", description=f"username: user '{username}' does not exist.")
    return user


def _list_users(services: Services, realm: str) -> list[User]:
    return services.storage.users.all(realm)


def _update_user(services: Services, realm: str, user_id: str, *, password: str | None = None,
                 active: bool | None = None, actor: str = "system") -> User:
    user = _get_user(services, realm, user_id)
    if password is not None and len(password) < 8:
        raise InvalidRequest("short password", description="password: at least 8 characters are required.")
    changed = replace(user, password_hash=services.hasher.hash_password(password) if password else user.password_hash,
                      active=user.active if active is None else active)
    services.storage.users.put(changed)
    _audit(services, realm, "user.update", actor, user_id)
    return changed


def _delete_user(services: Services, realm: str, user_id: str, *, actor: str = "system") -> None:
    if not services.storage.users.delete(realm, user_id):
        raise NotFound(f"user {user_id}", description=f"user_id: user '{user_id}' does not exist.")
    _audit(services, realm, "user.delete", actor, user_id)


def _put_group(services: Services, realm: str, name: str, members: list[str], *, actor: str = "system") -> Group:
    if not name or len(name) > 255:
        raise InvalidRequest("bad group", description="name: 1 to 255 characters are required.")
    for member in members:
        if services.storage.users.get(realm, member) is None:
            raise InvalidRequest("unknown member", description=f"members: user '{member}' does not exist.")
    group = Group(realm=realm, name=name, members=tuple(dict.fromkeys(members)))
    services.storage.groups.put(group)
    _audit(services, realm, "group.put", actor, name)
    return group


def _list_groups(services: Services, realm: str) -> list[Group]:
    return services.storage.groups.all(realm)


def _delete_group(services: Services, realm: str, name: str, *, actor: str = "system") -> None:
    if not services.storage.groups.delete(realm, name):
        raise NotFound(f"group {name}", description=f"name: group '{name}' does not exist.")
    _audit(services, realm, "group.delete", actor, name)


def _create_application(services: Services, realm: str, client_id: str, *, name: str = "", app_type: str = "service",
                        secret: str | None = None, grant_types: tuple[str, ...] = ("client_credentials",),
                        scopes: tuple[str, ...] = (), auth_method: str = "client_secret_post",
                        owners: tuple[str, ...] = (), actor: str = "system") -> tuple[Client, str | None]:
    if app_type not in ("web", "service"):
        raise InvalidRequest("app type", description="app_type: must be 'web' or 'service'.")
    return _clients.create_client(services, realm, client_id, kind="application", secret=secret, name=name,
                                  grant_types=tuple(grant_types), scopes=tuple(scopes), auth_method=auth_method,
                                  app_type=app_type, owners=tuple(owners), actor=actor)


def _of_kind(services: Services, realm: str, client_id: str, kind: str) -> Client:
    client = services.storage.clients.get(realm, client_id)
    if client is None or client.kind != kind:
        raise NotFound(f"{kind} {client_id}", description=f"client_id: {kind} '{client_id}' does not exist.")
    return client


def _update_application(services: Services, realm: str, client_id: str, changes: dict[str, Any], *,
                        actor: str = "system") -> Client:
    _of_kind(services, realm, client_id, "application")
    return _clients.update_client(services, realm, client_id, _tuples(changes), actor=actor)


def _list_applications(services: Services, realm: str) -> list[Client]:
    return services.storage.clients.all(realm, kind="application")


def _delete_application(services: Services, realm: str, client_id: str, *, actor: str = "system") -> None:
    _of_kind(services, realm, client_id, "application")
    _clients.delete_client(services, realm, client_id, actor=actor)


def _create_agent(services: Services, realm: str, client_id: str, *, name: str = "", secret: str | None = None,
                  scopes: tuple[str, ...] = (), grant_types: tuple[str, ...] = ("client_credentials", GRANT_TOKEN_EXCHANGE),
                  auth_method: str = "client_secret_post", overrides_enabled: bool = False,
                  stateless_tokens: bool = False, accept_audience: bool = False,
                  actor: str = "system") -> tuple[Client, str | None]:
    return _clients.create_client(services, realm, client_id, kind="agent", secret=secret, name=name,
                                  grant_types=tuple(grant_types), scopes=tuple(scopes), auth_method=auth_method,
                                  attributes=override_attributes(overrides_enabled, stateless_tokens, accept_audience),
                                  actor=actor)


def override_attributes(enabled: bool, stateless: bool, audience: bool) -> dict[str, list[str]]:
    if not enabled:
        return {}
    return {"providerOverridesEnabled": ["true"], "statelessTokensEnabled": [str(stateless).lower()],
            "acceptAudienceParametersInTokenExchangeRequests": [str(audience).lower()]}


def _update_agent(services: Services, realm: str, client_id: str, changes: dict[str, Any], *,
                  actor: str = "system") -> Client:
    agent = _of_kind(services, realm, client_id, "agent")
    changes = dict(changes)
    flags = {k: changes.pop(k) for k in ("overrides_enabled", "stateless_tokens", "accept_audience") if k in changes}
    if flags:
        attrs = {k: v for k, v in agent.attributes.items() if k not in (
            "providerOverridesEnabled", "statelessTokensEnabled", "acceptAudienceParametersInTokenExchangeRequests")}
        attrs.update(override_attributes(flags.get("overrides_enabled", agent.overrides_enabled),
                                         flags.get("stateless_tokens", bool(agent.stateless_tokens)),
                                         flags.get("accept_audience", agent.accepts_audience)))
        changes["attributes"] = attrs
    return _clients.update_client(services, realm, client_id, _tuples(changes), actor=actor)


def _list_agents(services: Services, realm: str) -> list[Client]:
    return services.storage.clients.all(realm, kind="agent")


def _delete_agent(services: Services, realm: str, client_id: str, *, actor: str = "system") -> None:
    _of_kind(services, realm, client_id, "agent")
    for policy in services.storage.policies.for_agent(realm, client_id):
        services.storage.policies.delete(realm, client_id, policy.application_id)
    _clients.delete_client(services, realm, client_id, actor=actor)


def _put_policy(services: Services, realm: str, agent_id: str, application_id: str, *,
                subjects: tuple[str, ...] = (), subject_groups: tuple[str, ...] = (),
                permissions: tuple[str, ...] = (), actor: str = "system") -> ApplicationPolicy:
    _of_kind(services, realm, agent_id, "agent")
    app = services.storage.clients.get(realm, application_id)
    if app is None or app.kind != "application":
        raise InvalidRequest("unknown app", description=f"application_id: application '{application_id}' does not exist.")
    for subject in subjects:
        if services.storage.users.get(realm, subject) is None:
            raise InvalidRequest("unknown subject", description=f"subjects: user '{subject}' does not exist.")
    for group in subject_groups:
        if services.storage.groups.get(realm, group) is None:
            raise InvalidRequest("unknown group", description=f"subject_groups: group '{group}' does not exist.")
    policy = ApplicationPolicy(realm=realm, agent_id=agent_id, application_id=application_id,
                               subjects=tuple(subjects), subject_groups=tuple(subject_groups),
                               permissions=tuple(permissions))
    services.storage.policies.put(policy)
    _audit(services, realm, "policy.put", actor, f"{agent_id}->{application_id}")
    return policy


def _list_policies(services: Services, realm: str, agent_id: str) -> list[ApplicationPolicy]:
    return services.storage.policies.for_agent(realm, agent_id)


def _delete_policy(services: Services, realm: str, agent_id: str, application_id: str, *,
                   actor: str = "system") -> None:
    if not services.storage.policies.delete(realm, agent_id, application_id):
        raise NotFound("policy", description=f"application_id: no policy for '{application_id}'.")
    _audit(services, realm, "policy.delete", actor, f"{agent_id}->{application_id}")


def _create_script(services: Services, realm: str, *, name: str, source: str, description: str = "",
                   actor: str = "system", script_id: str | None = None) -> Script:
    if not name.strip():
        raise InvalidRequest("no name", description="name: a script needs a name.")
    now = services.clock.now()
    script = Script(realm=realm, id=script_id or str(uuid.uuid4()), name=name, source=source,
                    description=description, created_at=now, updated_at=now)
    services.storage.scripts.put(script)
    _audit(services, realm, "script.create", actor, script.id)
    return script


def _get_script(services: Services, realm: str, script_id: str) -> Script:
    script = services.storage.scripts.get(realm, script_id)
    if script is None:
        raise NotFound(f"script {script_id}", description=f"script_id: script '{script_id}' does not exist.")
    return script


def _update_script(services: Services, realm: str, script_id: str, *, name: str | None = None,
                   source: str | None = None, description: str | None = None, actor: str = "system") -> Script:
    script = _get_script(services, realm, script_id)
    if name is not None and not name.strip():
        raise InvalidRequest("no name", description="name: a script needs a name.")
    updated = replace(script, name=script.name if name is None else name,
                      source=script.source if source is None else source,
                      description=script.description if description is None else description,
                      updated_at=services.clock.now())
    services.storage.scripts.put(updated)
    _audit(services, realm, "script.update", actor, script_id)
    return updated


def _list_scripts(services: Services, realm: str) -> list[Script]:
    return services.storage.scripts.all(realm)


def _delete_script(services: Services, realm: str, script_id: str, *, actor: str = "system") -> None:
    if services.realm(realm).settings.dcr_script == script_id:
        raise InvalidRequest("script in use", description="script_id: the provider settings use this script.")
    if not services.storage.scripts.delete(realm, script_id):
        raise NotFound(f"script {script_id}", description=f"script_id: script '{script_id}' does not exist.")
    _audit(services, realm, "script.delete", actor, script_id)


def _tuples(changes: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) and k != "attributes" else v for k, v in changes.items()}
