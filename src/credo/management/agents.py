"""AI agents (`Client(kind="agent")`) and their application policies: which application an agent may
reach, for which users and groups, with which scopes."""

from __future__ import annotations

from typing import Any

from credo.domain.errors import InvalidRequest, NotFound
from credo.domain.models import (
    ATTR_ACCEPT_AUDIENCE,
    ATTR_OVERRIDES_ENABLED,
    ATTR_STATELESS,
    DPOP_BOUND,
    ApplicationPolicy,
    AuditEvent,
    Client,
)
from credo.domain.settings import GRANT_CLIENT_CREDENTIALS, GRANT_TOKEN_EXCHANGE
from credo.management.applications import change_secret, check_scopes, get_application, validated_update
from credo.management.clients import create_client, delete_client
from credo.management.overrides import check_turned_on
from credo.management.users import resolve_user
from credo.oauth.services import Services

OVERRIDE_FLAGS = {"overrides_enabled": ATTR_OVERRIDES_ENABLED, "stateless_tokens": ATTR_STATELESS,
                  "accept_audience": ATTR_ACCEPT_AUDIENCE}
UPDATABLE = {"name", "scopes", "grant_types", "auth_method", "strict_auth_method", "enabled", "owners", "keys", "secret",
             DPOP_BOUND, *OVERRIDE_FLAGS}


def _flag(value: bool) -> list[str]:
    return ["true" if value else "false"]


def get_agent(services: Services, realm: str, client_id: str) -> Client:
    services.realm(realm)
    client = services.storage.clients.get(realm, client_id)
    if client is None or client.kind != "agent":
        raise NotFound(f"no agent {client_id}", description=f"agent_id: AI agent '{client_id}' does not exist.")
    return client


def create_agent(services: Services, realm: str, client_id: str, *, name: str, secret: str | None = None,
                 scopes: tuple[str, ...] = (),
                 grant_types: tuple[str, ...] = (GRANT_CLIENT_CREDENTIALS, GRANT_TOKEN_EXCHANGE),
                 auth_method: str = "client_secret_post", overrides_enabled: bool = False,
                 stateless_tokens: bool = False, accept_audience: bool = False, strict_auth_method: bool = False,
                 dpop_bound_access_tokens: bool = False, keys: dict[str, Any] | None = None,
                 actor: str = "system") -> tuple[Client, str | None]:
    services.realm(realm)
    attributes = {ATTR_OVERRIDES_ENABLED: _flag(overrides_enabled), ATTR_STATELESS: _flag(stateless_tokens),
                  ATTR_ACCEPT_AUDIENCE: _flag(accept_audience)}
    check_turned_on(None, attributes)
    return create_client(services, realm, client_id, kind="agent", secret=secret, name=name,
                         grant_types=tuple(grant_types), scopes=check_scopes("scopes", tuple(scopes)),
                         auth_method=auth_method, attributes=attributes, strict_auth_method=strict_auth_method,
                         dpop_bound_access_tokens=dpop_bound_access_tokens, keys=keys, actor=actor)


def update_agent(services: Services, realm: str, client_id: str, changes: dict[str, Any], *,
                 actor: str = "system") -> Client:
    agent = get_agent(services, realm, client_id)
    unknown = sorted(set(changes) - UPDATABLE)
    if unknown:
        raise InvalidRequest(f"unknown fields {unknown}", description=f"{unknown[0]}: cannot be changed.")
    fields = {k: v for k, v in changes.items() if k not in OVERRIDE_FLAGS}
    if "secret" in fields:
        change_secret(services, realm, client_id, fields.pop("secret"), actor=actor)
    if "scopes" in fields:
        fields["scopes"] = check_scopes("scopes", fields["scopes"])
    if "grant_types" in fields:
        fields["grant_types"] = tuple(fields["grant_types"])
    if "owners" in fields:
        fields["owners"] = tuple(fields["owners"])
    flags = {k: v for k, v in changes.items() if k in OVERRIDE_FLAGS}
    if flags:
        attributes = dict(agent.attributes)
        for key, value in flags.items():
            if not isinstance(value, bool):
                raise InvalidRequest(key, description=f"{key}: must be true or false.")
            attributes[OVERRIDE_FLAGS[key]] = _flag(value)
        check_turned_on(agent, attributes)
        fields["attributes"] = attributes
    return validated_update(services, realm, client_id, fields, actor=actor)


def set_agent_enabled(services: Services, realm: str, client_id: str, enabled: bool, *,
                      actor: str = "system") -> Client:
    get_agent(services, realm, client_id)
    return validated_update(services, realm, client_id, {"enabled": enabled}, actor=actor)


def list_agents(services: Services, realm: str) -> list[Client]:
    services.realm(realm)  # an unknown realm is an error, not an empty list
    return services.storage.clients.all(realm, kind="agent")


def delete_agent(services: Services, realm: str, client_id: str, *, actor: str = "system") -> None:
    get_agent(services, realm, client_id)
    for policy in services.storage.policies.for_agent(realm, client_id):
        services.storage.policies.delete(realm, client_id, policy.application_id)
    delete_client(services, realm, client_id, actor=actor)


def _subject_ids(services: Services, realm: str, subjects: tuple[str, ...]) -> tuple[str, ...]:
    ids: list[str] = []
    for subject in subjects:
        try:
            ids.append(resolve_user(services, realm, subject).id)
        except NotFound as exc:
            raise InvalidRequest(f"subject {subject}", description=f"subjects: user '{subject}' does not exist.") from exc
    return tuple(sorted(set(ids)))


def _groups(services: Services, realm: str, groups: tuple[str, ...]) -> tuple[str, ...]:
    for group in groups:
        if services.storage.groups.get(realm, group) is None:
            raise InvalidRequest(f"group {group}", description=f"subject_groups: group '{group}' does not exist.")
    return tuple(sorted(set(groups)))


def put_policy(services: Services, realm: str, agent_id: str, application_id: str, *,
               subjects: tuple[str, ...] = (), subject_groups: tuple[str, ...] = (),
               permissions: tuple[str, ...] = (), actor: str = "system") -> ApplicationPolicy:
    """Create or replace the policy letting `agent_id` reach `application_id`: the application's client id,
    or one of its RFC 8707 resource identifiers (the policy is stored under the client id)."""
    get_agent(services, realm, agent_id)
    if "://" in application_id:
        named = services.storage.clients.by_resource(realm, application_id)
        if named is None:
            raise InvalidRequest(f"resource {application_id}",
                                 description=f"application_id: no application has the resource '{application_id}'.")
        application_id = named.client_id
    try:
        get_application(services, realm, application_id)
    except NotFound as exc:
        raise InvalidRequest(f"application {application_id}",
                             description=f"application_id: application '{application_id}' does not exist.") from exc
    policy = ApplicationPolicy(realm=realm, agent_id=agent_id, application_id=application_id,
                               subjects=_subject_ids(services, realm, tuple(subjects)),
                               subject_groups=_groups(services, realm, tuple(subject_groups)),
                               permissions=check_scopes("permissions", tuple(permissions)))
    services.storage.policies.put(policy)
    services.audit(AuditEvent(realm=realm, action="policy.put", actor=actor, target=f"{agent_id}->{application_id}",
                              details={"subjects": list(policy.subjects), "subject_groups": list(policy.subject_groups),
                                       "permissions": list(policy.permissions)}))
    return policy


def list_policies(services: Services, realm: str, agent_id: str) -> list[ApplicationPolicy]:
    get_agent(services, realm, agent_id)
    return services.storage.policies.for_agent(realm, agent_id)


def delete_policy(services: Services, realm: str, agent_id: str, application_id: str, *,
                  actor: str = "system") -> None:
    services.realm(realm)
    if not services.storage.policies.delete(realm, agent_id, application_id):
        raise NotFound(f"policy {agent_id}->{application_id}",
                       description=f"application_id: agent '{agent_id}' has no policy for '{application_id}'.")
    services.audit(AuditEvent(realm=realm, action="policy.delete", actor=actor, target=f"{agent_id}->{application_id}"))


def get_policy(services: Services, realm: str, agent_id: str, application_id: str) -> ApplicationPolicy:
    for policy in list_policies(services, realm, agent_id):
        if policy.application_id == application_id:
            return policy
    raise NotFound(f"policy {agent_id}->{application_id}",
                   description=f"application_id: agent '{agent_id}' has no policy for '{application_id}'.")
