"""DCR scripts: create, edit, test and select the script a realm runs on registration events."""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import replace
from typing import Any

from credo.domain.errors import InvalidRequest, NotFound
from credo.domain.models import AuditEvent, Realm, Script
from credo.management.realms import get_realm, update_settings
from credo.oauth.services import Services
from credo.scripting.api import Operation, ScriptError, ScriptInput, ScriptOutput, ScriptRunner
from credo.scripting.quickjs_runner import MAX_SOURCE_BYTES, QuickJsRunner

SCRIPT_TYPE = "OAUTH2_DYNAMIC_CLIENT_REGISTRATION"
MAX_NAME = 255
MAX_DESCRIPTION = 4096
OPERATIONS: tuple[Operation, ...] = ("CREATE", "UPDATE", "DELETE")
SAMPLE_CLIENT_ID = "sample-client"

_default_runner: QuickJsRunner | None = None
_default_lock = threading.Lock()


def create_script(services: Services, realm: str, *, name: str, source: str, description: str = "",
                  actor: str = "system") -> Script:
    get_realm(services, realm)
    _check_name(name)
    _check_description(description)
    _check_source(services, source)
    now = services.clock.now()
    script = Script(realm=realm, id=str(uuid.uuid4()), name=name, source=source, description=description,
                    type=SCRIPT_TYPE, created_at=now, updated_at=now)
    services.storage.scripts.put(script)
    services.audit(AuditEvent(realm=realm, action="script.create", actor=actor, target=script.id,
                              details={"name": name}))
    return script


def get_script(services: Services, realm: str, script_id: str) -> Script:
    services.realm(realm)
    script = services.storage.scripts.get(realm, script_id)
    if script is None:
        raise NotFound(f"script {script_id}", description=f"script_id: script '{script_id}' does not exist.")
    return script


def list_scripts(services: Services, realm: str) -> list[Script]:
    services.realm(realm)  # an unknown realm is an error, not an empty list
    return services.storage.scripts.all(realm)


def update_script(services: Services, realm: str, script_id: str, *, name: str | None = None,
                  source: str | None = None, description: str | None = None, actor: str = "system") -> Script:
    script = get_script(services, realm, script_id)
    changes: dict[str, Any] = {}
    if name is not None:
        _check_name(name)
        changes["name"] = name
    if description is not None:
        _check_description(description)
        changes["description"] = description
    if source is not None:
        _check_source(services, source)
        changes["source"] = source
    updated = replace(script, **changes, updated_at=services.clock.now())
    services.storage.scripts.put(updated)
    services.audit(AuditEvent(realm=realm, action="script.update", actor=actor, target=script_id,
                              details={"changed": sorted(changes)}))
    return updated


def delete_script(services: Services, realm: str, script_id: str, *, actor: str = "system") -> None:
    get_script(services, realm, script_id)
    if get_realm(services, realm).settings.dcr_script == script_id:
        raise InvalidRequest(f"script {script_id} is selected",
                             description="script_id: the realm's dynamic client registration uses this script; "
                                         "select another script (or none) first.")
    services.storage.scripts.delete(realm, script_id)
    services.audit(AuditEvent(realm=realm, action="script.delete", actor=actor, target=script_id))


def select_realm_script(services: Services, realm: str, script_id: str | None, *, actor: str = "system") -> Realm:
    """Make `script_id` the script the realm runs on registration events (None: no script)."""
    if script_id is not None:
        get_script(services, realm, script_id)
    return update_settings(services, realm, {"dcr_script": script_id}, actor=actor)


def test_script(services: Services, realm: str, *, source: str, operation: str = "CREATE", is_ai_agent: bool = True,
                attributes: dict[str, list[str]] | None = None, metadata: dict[str, Any] | None = None) -> ScriptOutput:
    """Run `source` in the sandbox against a sample client; registers and changes nothing.
    Raises ScriptError when the script fails (a syntax error is reason "exception")."""
    get_realm(services, realm)
    if operation not in OPERATIONS:
        raise InvalidRequest(f"operation {operation!r}", description=f"operation: must be one of {', '.join(OPERATIONS)}.")
    _check_size(source)
    sample = ScriptInput(operation=operation, client_id=SAMPLE_CLIENT_ID, is_ai_agent=is_ai_agent,
                         attributes=_check_attributes(attributes or {}), metadata=dict(metadata or {}), realm=realm)
    return runner_for(services).run(source, sample)


def runner_for(services: Services) -> ScriptRunner:
    """The services' script runner, or a shared default one when none is configured."""
    global _default_runner
    if services.script_runner is not None:
        return services.script_runner
    with _default_lock:
        if _default_runner is None:
            _default_runner = QuickJsRunner()
        return _default_runner


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not name.strip():
        raise InvalidRequest("empty script name", description="name: must not be empty.")
    if len(name) > MAX_NAME:
        raise InvalidRequest("script name too long", description=f"name: at most {MAX_NAME} characters.")


def _check_description(description: str) -> None:
    if not isinstance(description, str) or len(description) > MAX_DESCRIPTION:
        raise InvalidRequest("bad description", description=f"description: a string of at most {MAX_DESCRIPTION} characters.")


def _check_size(source: str) -> None:
    if not isinstance(source, str) or not source.strip():
        raise InvalidRequest("empty script source", description="source: must not be empty.")
    if len(source.encode()) > MAX_SOURCE_BYTES:
        raise InvalidRequest("script too large", description=f"source: at most {MAX_SOURCE_BYTES // 1024} KB.")


def _check_source(services: Services, source: str) -> None:
    """Size limits, then a parse (without running it) in the sandbox: a script that cannot compile is refused."""
    _check_size(source)
    probe = f"new Function({json.dumps(source)});"
    sample = ScriptInput(operation="CREATE", client_id=SAMPLE_CLIENT_ID, is_ai_agent=False, attributes={})
    try:
        runner_for(services).run(probe, sample)
    except ScriptError as exc:
        raise InvalidRequest(f"script does not compile: {exc}",
                             description=f"source: the script does not compile: {_first_line(str(exc))}") from exc


def _check_attributes(attributes: dict[str, list[str]]) -> dict[str, list[str]]:
    if not isinstance(attributes, dict) or not all(
            isinstance(k, str) and isinstance(v, list) and all(isinstance(x, str) for x in v)
            for k, v in attributes.items()):
        raise InvalidRequest("bad sample attributes", description="attributes: a map of names to lists of strings.")
    return {k: list(v) for k, v in attributes.items()}


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0][:300] if text.strip() else "unknown error"
