"""The contract between the registration flow and the DCR script engine.

The script sees a plain JSON snapshot (operation, the client's attributes, the request's metadata);
its changes are read back afterwards and apply only if it called `clientIdentity.store()`.
"""

from __future__ import annotations

from dataclasses import field
from typing import Any, Literal, Protocol

from credo.domain.values import value_object

Operation = Literal["CREATE", "UPDATE", "DELETE"]


@value_object
class ScriptInput:
    operation: Operation
    client_id: str
    is_ai_agent: bool
    attributes: dict[str, list[str]]
    metadata: dict[str, Any] = field(default_factory=dict)
    realm: str = ""


@value_object
class ScriptOutput:
    stored: bool
    attributes: dict[str, list[str]]
    logs: list[str] = field(default_factory=list)


class ScriptError(Exception):
    """The script failed: it threw, ran past its time limit, exhausted its memory, or returned garbage.
    `reason` is one of "exception", "timeout", "memory", "invalid"; the message is safe to show an
    administrator (never a client: clients see a fixed description)."""

    def __init__(self, reason: str, message: str, *, logs: list[str] | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.logs = list(logs or [])  # what the script logged before it failed


class ScriptRunner(Protocol):
    def run(self, source: str, data: ScriptInput) -> ScriptOutput: ...
