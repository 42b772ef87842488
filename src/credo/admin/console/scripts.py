"""Console: DCR scripts (list, new, editor, test run against a sample client)."""

from __future__ import annotations

import json

from starlette.responses import Response

from credo.admin.console.base import Page, field_errors
from credo.domain.errors import OAuthError
from credo.management import usecases
from credo.scripting.api import ScriptError

NEW_SOURCE = "// OAuth2 Dynamic Client Registration script\n"
SAMPLE_ATTRIBUTES = {"AgentType": ["assistant"], "aiAgentIdentityUid": ["sample-agent-uid"]}


def scripts_page(page: Page) -> Response:
    realm = page.realm
    rows = [{"cells": [s.name, s.description, s.id], "href": f"/admin/r/{realm}/scripts/{s.id}", "key": s.id}
            for s in usecases.list_scripts(page.services, realm)]
    return page.render("list.html", title="Scripts", subtitle="Scripts run on dynamic client registration events.",
                       headers=["Name", "Description", "ID"], rows=rows, new_url=f"/admin/r/{realm}/scripts/new",
                       new_label="New Script", delete_base=f"/admin/r/{realm}/scripts",
                       notice=page.request.query_params.get("notice"))


def new_script(page: Page) -> Response:
    realm = page.realm
    errors: dict[str, str] = {}
    if page.request.method == "POST":
        try:
            script = usecases.create_script(page.services, realm, name=page.value("name"), source=NEW_SOURCE,
                                          description=page.value("description"), actor=page.admin)
            return page.redirect(f"/admin/r/{realm}/scripts/{script.id}", "Script created.")
        except OAuthError as exc:
            errors = field_errors(exc)
    return page.render("script_new.html", errors=errors, name=page.value("name"), status=400 if errors else 200)


def edit_script(page: Page) -> Response:
    realm, script_id = page.realm, str(page.request.path_params["script_id"])
    script = usecases.get_script(page.services, realm, script_id)
    errors: dict[str, str] = {}
    result = None
    if page.request.method == "POST":
        action = page.value("action", "save")
        source = page.form.get("source", [""])[0].replace("\r\n", "\n")
        if action == "test":
            result = _test(page, realm, source)
            script = script.__class__(**{**{f: getattr(script, f) for f in script.__dataclass_fields__},
                                         "source": source})
        else:
            try:
                usecases.update_script(page.services, realm, script_id, name=page.value("name"), source=source,
                                     description=page.value("description"), actor=page.admin)
                return page.redirect(f"/admin/r/{realm}/scripts/{script_id}", "Script saved.")
            except OAuthError as exc:
                errors = field_errors(exc)
    return page.render("script_edit.html", script=script, errors=errors, result=result,
                       sample=json.dumps(SAMPLE_ATTRIBUTES, indent=2), notice=page.request.query_params.get("notice"),
                       status=400 if errors else 200)


def _test(page: Page, realm: str, source: str) -> dict[str, object]:
    try:
        attributes = json.loads(page.form.get("sample", ["{}"])[0] or "{}")
        if not isinstance(attributes, dict):
            raise ValueError("not an object")
    except ValueError:
        return {"ok": False, "message": "sample: the sample attributes must be a JSON object."}
    try:
        out = usecases.test_script(page.services, realm, source=source, operation=page.value("operation", "CREATE"),
                                 is_ai_agent=page.checked("is_ai_agent"), attributes=attributes)
    except ScriptError as exc:
        return {"ok": False, "message": f"{exc.reason}: {exc}"}
    except OAuthError as exc:
        return {"ok": False, "message": exc.description}
    return {"ok": True, "stored": getattr(out, "stored", None),
            "attributes": json.dumps(getattr(out, "attributes", {}), indent=2, sort_keys=True),
            "logs": list(getattr(out, "logs", []))}


def delete_script(page: Page) -> Response:
    realm = page.realm
    try:
        usecases.delete_script(page.services, realm, str(page.request.path_params["key"]), actor=page.admin)
    except OAuthError as exc:
        return page.redirect(f"/admin/r/{realm}/scripts", exc.description)
    return page.redirect(f"/admin/r/{realm}/scripts", "Script deleted.")
