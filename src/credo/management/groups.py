"""Groups of users: an application policy may name a group instead of each user."""

from __future__ import annotations

import re

from credo.domain.errors import InvalidRequest, NotFound
from credo.domain.models import AuditEvent, Group
from credo.management.policy_refs import forget_in_policies
from credo.management.users import resolve_user
from credo.oauth.services import Services

GROUP_NAME = re.compile(r"^[^\x00-\x1f\x7f]{1,255}$")


def put_group(services: Services, realm: str, name: str, members: list[str], *, actor: str = "system") -> Group:
    """Create or replace a group; members are user ids (usernames are accepted and resolved)."""
    services.realm(realm)
    if not GROUP_NAME.match(name):
        raise InvalidRequest(f"bad group name {name!r}",
                             description="name: use 1 to 255 characters, no control characters.")
    ids: list[str] = []
    for member in members:
        try:
            ids.append(resolve_user(services, realm, member).id)
        except NotFound as exc:
            raise InvalidRequest(f"unknown member {member}", description=f"members: user '{member}' does not exist.") from exc
    group = Group(realm=realm, name=name, members=tuple(sorted(set(ids))))
    services.storage.groups.put(group)
    services.audit(AuditEvent(realm=realm, action="group.put", actor=actor, target=name,
                              details={"members": list(group.members)}))
    return group


def get_group(services: Services, realm: str, name: str) -> Group:
    services.realm(realm)
    group = services.storage.groups.get(realm, name)
    if group is None:
        raise NotFound(f"group {name}", description=f"name: group '{name}' does not exist.")
    return group


def list_groups(services: Services, realm: str) -> list[Group]:
    services.realm(realm)  # an unknown realm is an error, not an empty list
    return services.storage.groups.all(realm)


def delete_group(services: Services, realm: str, name: str, *, actor: str = "system") -> None:
    if not services.storage.groups.delete(realm, name):
        raise NotFound(f"group {name}", description=f"name: group '{name}' does not exist.")
    forget_in_policies(services, realm, group=name)
    services.audit(AuditEvent(realm=realm, action="group.delete", actor=actor, target=name))
