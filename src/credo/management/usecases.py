"""The per-entity use cases the admin API, the console and import/export call, in one namespace."""

from __future__ import annotations

from credo.management.agents import (
    create_agent,
    delete_agent,
    delete_policy,
    list_agents,
    list_policies,
    put_policy,
    update_agent,
)
from credo.management.applications import (
    create_application,
    delete_application,
    list_applications,
    update_application,
)
from credo.management.groups import delete_group, list_groups, put_group
from credo.management.scripts import (
    create_script,
    delete_script,
    get_script,
    list_scripts,
    test_script,
    update_script,
)
from credo.management.users import create_user, delete_user, get_user, list_users, update_user

__all__ = [
    "create_agent", "create_application", "create_script", "create_user", "delete_agent", "delete_application",
    "delete_group", "delete_policy", "delete_script", "delete_user", "get_script", "get_user", "list_agents",
    "list_applications", "list_groups", "list_policies", "list_scripts", "list_users", "put_group", "put_policy",
    "test_script", "update_agent", "update_application", "update_script", "update_user",
]
