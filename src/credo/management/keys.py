"""Signing keys of a realm: list the public parts, rotate, purge the retired ones."""

from __future__ import annotations

from typing import Any

from credo.domain.models import AuditEvent
from credo.management.realms import get_realm, longest_token_lifetime
from credo.oauth.services import Services


def list_keys(services: Services, realm: str) -> list[dict[str, Any]]:
    get_realm(services, realm)
    return [{"kid": k.kid, "alg": k.alg, "active": k.active, "created_at": k.created_at,
             "publish_until": k.publish_until, "public_jwk": k.public_jwk}
            for k in services.storage.keys.all(realm)]


def rotate_key(services: Services, realm: str, alg: str | None = None, *, actor: str = "system") -> dict[str, Any]:
    """A new active key with `alg`, by default the realm's `signing_alg`."""
    settings = get_realm(services, realm).settings
    key = services.keys.rotate(realm, alg or settings.signing_alg, longest_token_lifetime(services, realm))
    services.audit(AuditEvent(realm=realm, action="key.rotate", actor=actor, target=key.kid))
    return {"kid": key.kid, "alg": key.alg, "active": key.active, "created_at": key.created_at,
            "publish_until": key.publish_until, "public_jwk": key.public_jwk}


def purge_keys(services: Services, realm: str, *, actor: str = "system") -> int:
    """Delete the realm's retired keys whose publication has ended (tokens they signed are then inactive)."""
    get_realm(services, realm)
    gone = services.keys.purge_retired(realm)
    if gone:
        services.audit(AuditEvent(realm=realm, action="key.purge", actor=actor, target=str(gone)))
    return gone


__all__ = ["list_keys", "longest_token_lifetime", "purge_keys", "rotate_key"]
