"""A script test run for the console: form text in, a render-ready report out (script failures included)."""

from __future__ import annotations

import json
import time
from dataclasses import field
from typing import Any

from credo.domain.errors import InvalidRequest
from credo.domain.values import value_object
from credo.management.scripts import test_script
from credo.oauth.services import Services
from credo.scripting.api import ScriptError


@value_object
class ScriptTestRun:
    ok: bool
    stored: bool = False
    attributes: dict[str, list[str]] = field(default_factory=dict)
    logs: list[str] = field(default_factory=list)
    error_reason: str | None = None  # "exception", "timeout", "memory" or "invalid"
    error_message: str | None = None
    elapsed_ms: float = 0.0

    @property
    def attributes_json(self) -> str:
        return json.dumps(self.attributes, indent=2, sort_keys=True)


def run_script_test(services: Services, realm: str, *, source: str, operation: str = "CREATE",
                    is_ai_agent: bool = True, attributes_json: str = "", metadata_json: str = "") -> ScriptTestRun:
    """Run `source` against a sample client. Bad form input raises InvalidRequest naming the field;
    a failing script comes back as a report with `ok=False`."""
    attributes = _parse("attributes", attributes_json)
    metadata = _parse("metadata", metadata_json)
    start = time.perf_counter()
    try:
        output = test_script(services, realm, source=source, operation=operation, is_ai_agent=is_ai_agent,
                             attributes=attributes, metadata=metadata)
    except ScriptError as exc:
        return ScriptTestRun(ok=False, logs=exc.logs, error_reason=exc.reason, error_message=str(exc),
                             elapsed_ms=_since(start))
    return ScriptTestRun(ok=True, stored=output.stored, attributes=output.attributes, logs=output.logs,
                         elapsed_ms=_since(start))


def _parse(name: str, text: str) -> dict[str, Any]:
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidRequest(f"{name} is not JSON", description=f"{name}: not valid JSON ({exc.msg}).") from exc
    if not isinstance(value, dict):
        raise InvalidRequest(f"{name} is not an object", description=f"{name}: must be a JSON object.")
    return value


def _since(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 2)
