"""The admin API under /admin/api (JSON; described by /admin/api/openapi.json)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from credo.admin.api import clients, directory, realms, tokens
from credo.admin.api.base import Access, endpoint
from credo.admin.openapi import document
from credo.admin.web import json_response
from credo.oauth.services import Services

R = "/admin/api/realms/{realm}"


async def _openapi(_request: Request) -> Response:
    return json_response(document(), cache=True)


# What each route outside a realm touches; a route under /realms/{realm} touches that realm. A route that
# is in neither cannot be built (so no route goes without the access check).
OUTSIDE_REALMS: dict[tuple[str, str], Access] = {
    ("/admin/api/realms", "GET"): "realms", ("/admin/api/realms", "POST"): "new_realm",
}


def _access(path: str, verb: str) -> Access:
    if "{realm}" in path:
        return "realm"
    if path.startswith(("/admin/api/service-accounts", "/admin/api/tokens")):
        return "accounts"
    return OUTSIDE_REALMS[(path, verb)]  # KeyError: a new route must say what it touches


def _r(path: str, methods: dict[str, Any]) -> list[BaseRoute]:
    return [Route(path, endpoint(handler, access=_access(path, verb), status=201 if verb == "POST" and created
                                 else 200), methods=[verb])
            for verb, (handler, created) in methods.items()]


def admin_api_routes(_services: Services) -> list[BaseRoute]:
    c, d, r, t = clients, directory, realms, tokens
    table: list[tuple[str, dict[str, Any]]] = [
        ("/admin/api/realms", {"GET": (r.list_realms, False), "POST": (r.create_realm, True)}),
        (R, {"DELETE": (r.delete_realm, False)}),
        (f"{R}/settings", {"GET": (r.get_settings, False), "PATCH": (r.patch_settings, False)}),
        (f"{R}/config", {"GET": (r.export_config, False)}),
        ("/admin/api/realms/{realm}/config", {"PUT": (r.import_config, False)}),
        (f"{R}/keys", {"GET": (r.list_keys, False)}),
        (f"{R}/keys/rotate", {"POST": (r.rotate_key, True)}),
        (f"{R}/audit", {"GET": (r.audit_log, False)}),
        (f"{R}/applications", {"GET": (c.list_applications, False), "POST": (c.create_application, True)}),
        (f"{R}/applications/{{client_id}}", {"GET": (c.get_application, False), "PATCH": (c.update_application, False),
                                             "DELETE": (c.delete_application, False)}),
        (f"{R}/applications/{{client_id}}/secret", {"POST": (c.new_secret, False)}),
        (f"{R}/agents", {"GET": (c.list_agents, False), "POST": (c.create_agent, True)}),
        (f"{R}/agents/{{client_id}}/secret", {"POST": (c.new_secret, False)}),
        (f"{R}/agents/{{client_id}}", {"GET": (c.get_agent, False), "PATCH": (c.update_agent, False),
                                       "DELETE": (c.delete_agent, False)}),
        (f"{R}/agents/{{client_id}}/policies", {"GET": (c.list_policies, False)}),
        (f"{R}/agents/{{client_id}}/policies/{{application_id}}", {"PUT": (c.put_policy, False),
                                                                   "DELETE": (c.delete_policy, False)}),
        (f"{R}/dynamic-clients", {"GET": (c.list_dynamic, False)}),
        (f"{R}/dynamic-clients/{{client_id}}", {"DELETE": (c.delete_dynamic, False)}),
        (f"{R}/users", {"GET": (d.list_users, False), "POST": (d.create_user, True)}),
        (f"{R}/users/{{user_id}}", {"GET": (d.get_user, False), "PATCH": (d.update_user, False),
                                    "DELETE": (d.delete_user, False)}),
        (f"{R}/groups", {"GET": (d.list_groups, False)}),
        (f"{R}/groups/{{name}}", {"PUT": (d.put_group, False), "DELETE": (d.delete_group, False)}),
        (f"{R}/scripts", {"GET": (d.list_scripts, False), "POST": (d.create_script, True)}),
        (f"{R}/scripts/test", {"POST": (d.test_script, False)}),
        (f"{R}/scripts/{{script_id}}", {"GET": (d.get_script, False), "PATCH": (d.update_script, False),
                                        "DELETE": (d.delete_script, False)}),
        ("/admin/api/service-accounts", {"GET": (t.list_service_accounts, False),
                                         "POST": (t.create_service_account, True)}),
        ("/admin/api/service-accounts/{name}", {"GET": (t.get_service_account, False),
                                                "PATCH": (t.update_service_account, False),
                                                "DELETE": (t.delete_service_account, False)}),
        ("/admin/api/service-accounts/{name}/secret", {"POST": (t.new_service_account_secret, False)}),
        ("/admin/api/tokens", {"GET": (t.list_admin_tokens, False)}),
        ("/admin/api/tokens/{token_id}", {"DELETE": (t.revoke_admin_token, False)}),
    ]
    routes: list[BaseRoute] = [Route("/admin/api/openapi.json", _openapi, methods=["GET"]),
                               Route("/admin/api/token", t.token, methods=["POST"])]
    for path, methods in table:
        routes.extend(_r(path, methods))
    return routes
