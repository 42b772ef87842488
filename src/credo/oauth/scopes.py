"""Scope strings (RFC 6749 §3.3) and the scope policy of the token endpoint."""

from __future__ import annotations

import re

from credo.domain.errors import InvalidRequest, InvalidScope

_SCOPE_TOKEN = re.compile(r"^[\x21\x23-\x5B\x5D-\x7E]+$")


def parse_scope(value: str | None) -> tuple[str, ...]:
    """Split a space-delimited scope string, keeping first-seen order and dropping duplicates."""
    if value is None or value.strip() == "":
        return ()
    out: list[str] = []
    for item in value.split(" "):
        if item == "":
            continue
        if not _SCOPE_TOKEN.match(item):
            raise InvalidScope(f"malformed scope {item!r}", description="A scope contains invalid characters.")
        if item not in out:
            out.append(item)
    return tuple(out)


def grant_scopes(requested: tuple[str, ...], allowed: tuple[str, ...]) -> tuple[str, ...]:
    """Requested scopes must all be allowed; none requested means every allowed scope."""
    if not requested:
        return allowed
    extra = [s for s in requested if s not in allowed]
    if extra:
        raise InvalidScope(f"scopes not allowed: {extra}",
                           description=f"Scope not allowed for this client: {' '.join(extra)}.")
    return requested


def single(params: dict[str, str], name: str, *, required: bool = False) -> str | None:
    value = params.get(name)
    if required and not value:
        raise InvalidRequest(f"missing {name}", description=f"The '{name}' parameter is required.")
    return value
