"""Admin API: applications, AI agents and their application policies, dynamic clients."""

from __future__ import annotations

from typing import Any

from credo.admin.api import shapes
from credo.admin.api.base import Call, only, optional, require
from credo.domain.errors import InvalidRequest, NotFound
from credo.domain.models import DPOP_BOUND
from credo.domain.settings import GRANT_TOKEN_EXCHANGE
from credo.keys.secrets import WeakSecret
from credo.management import usecases
from credo.management.client_signin import SIGNIN_FIELDS
from credo.management.clients import delete_client, set_secret

APP_FIELDS = ("client_id", "name", "app_type", "secret", "grant_types", "scopes", "auth_method",
              "strict_auth_method", "owners", DPOP_BOUND, "keys", *SIGNIN_FIELDS)
APP_CHANGES = ("name", "grant_types", "scopes", "auth_method", "strict_auth_method", "owners", "enabled",
               DPOP_BOUND, "keys", *SIGNIN_FIELDS)
AGENT_FIELDS = ("client_id", "name", "secret", "scopes", "grant_types", "auth_method", "strict_auth_method",
                "overrides_enabled", "stateless_tokens", "accept_audience", DPOP_BOUND, "keys")
AGENT_CHANGES = ("name", "grant_types", "scopes", "auth_method", "strict_auth_method", "enabled", "overrides_enabled",
                 "stateless_tokens", "accept_audience", DPOP_BOUND, "keys")
POLICY_FIELDS = ("subjects", "subject_groups", "permissions")


def _typed(body: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    kinds: dict[str, Any] = {"grant_types": list, "scopes": list, "owners": list, "enabled": bool,
                             "overrides_enabled": bool, "stateless_tokens": bool, "accept_audience": bool,
                             "redirect_uris": list, "post_logout_redirect_uris": list, "resources": list,
                             "skip_consent": bool, "strict_auth_method": bool, DPOP_BOUND: bool, "keys": dict}
    out = {}
    for name in names:
        if name in body:
            out[name] = optional(body, name, kinds.get(name, str))
    return {k: tuple(v) if isinstance(v, list) else v for k, v in out.items() if v is not None}


def _list(call: Call, lister: Any) -> list[dict[str, Any]]:
    return [shapes.client(c) for c in lister(call.services, call.realm)]


def _create(call: Call, fields: tuple[str, ...], creator: Any, **defaults: Any) -> dict[str, Any]:
    only(call.body, fields)
    client_id = require(call.body, "client_id")
    kw = {"name": client_id, **defaults, **_typed(call.body, fields[1:])}
    client, secret = creator(call.services, call.realm, client_id, actor=call.actor, **kw)
    return shapes.with_secret(client, secret)


def _of_kind(call: Call, kind: str, name: str = "client_id") -> Any:
    client = call.services.storage.clients.get(call.realm, call.path(name))
    if client is None or client.kind != kind:
        raise NotFound(kind, description=f"client_id: {kind} '{call.path(name)}' does not exist.")
    return client


def _update(call: Call, kind: str, allowed: tuple[str, ...], updater: Any) -> dict[str, Any]:
    only(call.body, allowed)
    _of_kind(call, kind)
    changes = _typed(call.body, allowed)
    return shapes.client(updater(call.services, call.realm, call.path("client_id"), changes, actor=call.actor))


def _app(call: Call) -> Any:
    return _of_kind(call, "application")


def _agent(call: Call, name: str = "client_id") -> Any:
    return _of_kind(call, "agent", name)


def list_applications(call: Call) -> list[dict[str, Any]]:
    return _list(call, usecases.list_applications)


def create_application(call: Call) -> dict[str, Any]:
    return _create(call, APP_FIELDS, usecases.create_application)


def get_application(call: Call) -> dict[str, Any]:
    return shapes.client(_app(call))


def update_application(call: Call) -> dict[str, Any]:
    return _update(call, "application", APP_CHANGES, usecases.update_application)


def delete_application(call: Call) -> None:
    usecases.delete_application(call.services, call.realm, call.path("client_id"), actor=call.actor)


def list_agents(call: Call) -> list[dict[str, Any]]:
    return _list(call, usecases.list_agents)


def create_agent(call: Call) -> dict[str, Any]:
    return _create(call, AGENT_FIELDS, usecases.create_agent, grant_types=("client_credentials", GRANT_TOKEN_EXCHANGE))


def get_agent(call: Call) -> dict[str, Any]:
    return shapes.client(_agent(call))


def update_agent(call: Call) -> dict[str, Any]:
    return _update(call, "agent", AGENT_CHANGES, usecases.update_agent)


def delete_agent(call: Call) -> None:
    usecases.delete_agent(call.services, call.realm, call.path("client_id"), actor=call.actor)


def list_policies(call: Call) -> list[dict[str, Any]]:
    _agent(call)
    return [shapes.policy(p) for p in usecases.list_policies(call.services, call.realm, call.path("client_id"))]


def put_policy(call: Call) -> dict[str, Any]:
    only(call.body, POLICY_FIELDS)
    _agent(call)
    kw = {k: tuple(optional(call.body, k, list)) for k in POLICY_FIELDS if call.body.get(k) is not None}
    policy = usecases.put_policy(call.services, call.realm, call.path("client_id"), call.path("application_id"),
                               actor=call.actor, **kw)
    return shapes.policy(policy)


def delete_policy(call: Call) -> None:
    usecases.delete_policy(call.services, call.realm, call.path("client_id"), call.path("application_id"),
                         actor=call.actor)


def new_secret(call: Call) -> dict[str, Any]:
    """A new client secret (the given one, or generated), returned once."""
    only(call.body, ("secret",))
    kind = "application" if "/applications/" in call.request.url.path else "agent"
    client = _app(call) if kind == "application" else _agent(call)
    try:
        secret = set_secret(call.services, call.realm, client.client_id, optional(call.body, "secret", str),
                            actor=call.actor)
    except WeakSecret as exc:
        raise InvalidRequest("weak secret", description=f"client_secret: {exc}.") from exc
    return shapes.with_secret(call.services.storage.clients.get(call.realm, client.client_id) or client, secret)


def list_dynamic(call: Call) -> list[dict[str, Any]]:
    store = call.services.storage.clients
    return [shapes.client(c, store.last_used(call.realm, c.client_id)) for c in store.all(call.realm, dynamic=True)]


def delete_dynamic(call: Call) -> None:
    client = call.services.storage.clients.get(call.realm, call.path("client_id"))
    if client is None or not client.dynamic:
        raise NotFound("dynamic", description=f"client_id: dynamic client '{call.path('client_id')}' does not exist.")
    delete_client(call.services, call.realm, client.client_id, actor=call.actor)
