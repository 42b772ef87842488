"""Resource indicators (RFC 8707): `resource=<absolute URI>` names the protected resource a token is for.

A resource identifier belongs to one client of the realm (an application, e.g. an MCP server, whose
`resources` list it); a token issued for it carries the URL as its `aud`, and stays live only while that
client exists and is enabled (the cascade in tokens.py). An unknown or malformed resource is
`invalid_target` (RFC 8707 §2)."""

from __future__ import annotations

from urllib.parse import urlsplit

from credo.domain.errors import InvalidTarget
from credo.domain.models import Client, Realm
from credo.oauth.services import Services

MAX_RESOURCES = 10
UNKNOWN_RESOURCE = "The requested resource is unknown or not allowed."


def is_resource_uri(value: str) -> bool:
    """An absolute URI without a fragment (RFC 8707 §2), at most 2,000 characters."""
    if not value or len(value) > 2000 or "#" in value or any(c.isspace() for c in value):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return bool(parts.scheme) and bool(parts.netloc)


def resource_client(services: Services, realm: Realm, resource: str) -> Client | None:
    """The enabled client that answers to `resource`, or None."""
    if not is_resource_uri(resource):
        return None
    client = services.storage.clients.by_resource(realm.name, resource)
    return client if client is not None and client.enabled else None


def resolve_resources(services: Services, realm: Realm, values: tuple[str, ...]) -> tuple[str, ...]:
    """The requested resource identifiers, each known in the realm (first-seen order, no duplicates)."""
    if len(values) > MAX_RESOURCES:
        raise InvalidTarget("too many resources", description=f"At most {MAX_RESOURCES} resources may be requested.")
    out: list[str] = []
    for value in values:
        if not is_resource_uri(value):
            raise InvalidTarget(f"malformed resource {value[:100]!r}",
                                description="A resource must be an absolute URI without a fragment.")
        if resource_client(services, realm, value) is None:
            raise InvalidTarget(f"unknown resource {value[:100]!r}", description=UNKNOWN_RESOURCE)
        if value not in out:
            out.append(value)
    return tuple(out)


def narrowed(requested: tuple[str, ...], granted: tuple[str, ...]) -> tuple[str, ...]:
    """Resources asked for again (a code redemption, a refresh): only some of those granted (down-scoping)."""
    if not requested:
        return granted
    extra = [r for r in requested if r not in granted]
    if extra:
        raise InvalidTarget(f"resource not granted: {extra[0][:100]!r}",
                            description="The resource was not part of the original grant.")
    return tuple(dict.fromkeys(requested))
