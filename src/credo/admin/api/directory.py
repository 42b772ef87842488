"""Admin API: users, groups, scripts."""

from __future__ import annotations

from typing import Any

from credo.admin.api import shapes
from credo.admin.api.base import Call, only, optional, require
from credo.management import usecases
from credo.scripting.api import ScriptError


def list_users(call: Call) -> list[dict[str, Any]]:
    return [shapes.user(u) for u in usecases.list_users(call.services, call.realm)]


def create_user(call: Call) -> dict[str, Any]:
    only(call.body, ("username", "password", "active", "name", "email"))
    user = usecases.create_user(call.services, call.realm, require(call.body, "username"),
                              require(call.body, "password"), active=optional(call.body, "active", bool, True),
                              name=optional(call.body, "name", str, ""), email=optional(call.body, "email", str, ""),
                              actor=call.actor)
    return shapes.user(user)


def get_user(call: Call) -> dict[str, Any]:
    return shapes.user(usecases.get_user(call.services, call.realm, call.path("user_id")))


def update_user(call: Call) -> dict[str, Any]:
    only(call.body, ("password", "active", "name", "email"))
    user = usecases.update_user(call.services, call.realm, call.path("user_id"),
                              password=optional(call.body, "password", str),
                              active=optional(call.body, "active", bool), name=optional(call.body, "name", str),
                              email=optional(call.body, "email", str), actor=call.actor)
    return shapes.user(user)


def delete_user(call: Call) -> None:
    usecases.delete_user(call.services, call.realm, call.path("user_id"), actor=call.actor)


def list_groups(call: Call) -> list[dict[str, Any]]:
    return [shapes.group(g) for g in usecases.list_groups(call.services, call.realm)]


def put_group(call: Call) -> dict[str, Any]:
    only(call.body, ("members",))
    members = optional(call.body, "members", list, [])
    return shapes.group(usecases.put_group(call.services, call.realm, call.path("name"), members, actor=call.actor))


def delete_group(call: Call) -> None:
    usecases.delete_group(call.services, call.realm, call.path("name"), actor=call.actor)


SCRIPT_FIELDS = ("name", "source", "description")


def list_scripts(call: Call) -> list[dict[str, Any]]:
    return [shapes.script(s) for s in usecases.list_scripts(call.services, call.realm)]


def create_script(call: Call) -> dict[str, Any]:
    only(call.body, SCRIPT_FIELDS)
    script = usecases.create_script(call.services, call.realm, name=require(call.body, "name"),
                                  source=require(call.body, "source"),
                                  description=optional(call.body, "description", str, ""), actor=call.actor)
    return shapes.script(script)


def get_script(call: Call) -> dict[str, Any]:
    return shapes.script(usecases.get_script(call.services, call.realm, call.path("script_id")))


def update_script(call: Call) -> dict[str, Any]:
    only(call.body, SCRIPT_FIELDS)
    kw = {k: optional(call.body, k, str) for k in SCRIPT_FIELDS}
    script = usecases.update_script(call.services, call.realm, call.path("script_id"), actor=call.actor, **kw)
    return shapes.script(script)


def delete_script(call: Call) -> None:
    usecases.delete_script(call.services, call.realm, call.path("script_id"), actor=call.actor)


def test_script(call: Call) -> dict[str, Any]:
    only(call.body, ("source", "operation", "is_ai_agent", "attributes", "metadata"))
    try:
        output = usecases.test_script(call.services, call.realm, source=require(call.body, "source"),
                                    operation=optional(call.body, "operation", str, "CREATE"),
                                    is_ai_agent=optional(call.body, "is_ai_agent", bool, True),
                                    attributes=optional(call.body, "attributes", dict, {}),
                                    metadata=optional(call.body, "metadata", dict, {}))
    except ScriptError as exc:
        return {"ok": False, "error": exc.reason, "message": str(exc)}
    return {"ok": True, **script_output(output)}


def script_output(output: Any) -> dict[str, Any]:
    if isinstance(output, dict):
        return output
    fields = getattr(output, "__dataclass_fields__", None)
    data = {f: getattr(output, f) for f in fields} if fields else dict(vars(output))
    return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}
