"""One DCR script run inside a fresh QuickJS context (the code a script worker process executes).

Plain QuickJS has no file, network, process or timer access; the bindings are pure JavaScript built
from a JSON snapshot, so the script never calls back into Python. The outcome is a JSON-able dict:
{"ok": True, "stored", "attributes", "logs"} or {"ok": False, "reason", "message", "logs"}.
"""

from __future__ import annotations

import json
import time
from typing import Any

import quickjs

from credo.domain.values import value_object
from credo.scripting.prelude import PRELUDE

LOG_LINES = 100
LOG_CHARS = 1024
MESSAGE_CHARS = 500
MAX_PENDING_JOBS = 1000


@value_object
class Limits:
    time_limit_ms: int = 200
    memory_limit_bytes: int = 16 * 1024 * 1024
    max_output_bytes: int = 64 * 1024


def execute(source: str, data: dict[str, Any], limits: Limits) -> dict[str, Any]:
    context = quickjs.Context()
    context.set_memory_limit(limits.memory_limit_bytes)
    context.set_time_limit(limits.time_limit_ms / 1000)
    snapshot = {**data, "limits": {"logLines": LOG_LINES, "logChars": LOG_CHARS}}
    outcome: Any = None
    try:
        outcome = context.eval(PRELUDE)(context.parse_json(json.dumps(snapshot)))
        context.eval(source)
        _drain_jobs(context, limits)
        return _read_outcome(outcome, limits)
    except Exception as exc:  # every JS failure becomes a classified result
        reason = "memory" if _heap_exhausted(context) else _reason(exc)
        return {"ok": False, "reason": reason, "message": _message(exc), "logs": _logs_after_failure(outcome)}


def _drain_jobs(context: quickjs.Context, limits: Limits) -> None:
    """Run promise callbacks the script queued, within the same CPU budget."""
    start = time.process_time()
    for _ in range(MAX_PENDING_JOBS):
        if not context.execute_pending_job():
            return
        if time.process_time() - start > limits.time_limit_ms / 1000:
            raise _Timeout("InternalError: interrupted (promise callbacks ran past the time limit)")
    raise _Timeout("InternalError: interrupted (too many promise callbacks)")


class _Timeout(Exception):
    pass


def _read_outcome(outcome: Any, limits: Limits) -> dict[str, Any]:
    text = outcome()
    if not isinstance(text, str):
        return _invalid("the outcome could not be serialised")
    if len(text.encode()) > limits.max_output_bytes + LOG_LINES * LOG_CHARS * 4 + 1024:
        return _invalid("the output is too large")
    try:
        result = json.loads(text)
    except ValueError:
        return _invalid("the outcome is not JSON")
    if not isinstance(result, dict):
        return _invalid("the outcome is not an object (was JSON.stringify or toJSON replaced?)")
    return {"ok": True, "stored": result.get("stored"), "attributes": result.get("attributes"),
            "logs": _log_lines(result)}


def _invalid(message: str) -> dict[str, Any]:
    return {"ok": False, "reason": "invalid", "message": message, "logs": []}


def _log_lines(result: dict[str, Any]) -> list[str]:
    logs = result.get("logs")
    lines = [str(x)[:LOG_CHARS] for x in logs[:LOG_LINES]] if isinstance(logs, list) else []
    dropped = result.get("dropped")
    if isinstance(dropped, int) and dropped > 0 and lines:
        lines[-1] = f"[{dropped + 1} more log lines dropped]"
    return lines


def _logs_after_failure(outcome: Any) -> list[str]:
    if outcome is None:
        return []
    try:
        result = json.loads(outcome())
        return _log_lines(result) if isinstance(result, dict) else []
    except Exception:  # the context may be unusable after a limit was hit
        return []


def _heap_exhausted(context: quickjs.Context) -> bool:
    """True when the heap is (nearly) at its limit: then even the error object may be missing."""
    try:
        usage = context.memory()
        return bool(usage["malloc_size"] >= 0.95 * usage["malloc_limit"] > 0)
    except Exception:  # reading usage is best effort
        return False


def _reason(exc: Exception) -> str:
    text = str(exc)
    if isinstance(exc, _Timeout) or text.startswith("InternalError: interrupted"):
        return "timeout"
    if isinstance(exc, MemoryError) or text.startswith("InternalError: out of memory"):
        return "memory"
    return "exception"


def _message(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= MESSAGE_CHARS else text[: MESSAGE_CHARS - 3] + "..."
