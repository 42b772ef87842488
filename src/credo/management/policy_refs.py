"""Keep application policies free of dangling references: a deleted user or group leaves every policy,
so that a later user or group of the same id or name inherits nothing."""

from __future__ import annotations

from dataclasses import replace

from credo.oauth.services import Services


def forget_in_policies(services: Services, realm: str, *, user_id: str | None = None, group: str | None = None) -> None:
    for agent in services.storage.clients.all(realm, kind="agent"):
        for policy in services.storage.policies.for_agent(realm, agent.client_id):
            subjects = tuple(s for s in policy.subjects if s != user_id)
            groups = tuple(g for g in policy.subject_groups if g != group)
            if subjects != policy.subjects or groups != policy.subject_groups:
                services.storage.policies.put(replace(policy, subjects=subjects, subject_groups=groups))
