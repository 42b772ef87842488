"""Signing keys of a realm: list the public parts, rotate (by hand or on a schedule), purge the retired ones."""

from __future__ import annotations

from functools import partial
from typing import Any

from credo.domain.models import AuditEvent, SigningKey
from credo.management.realms import get_realm, longest_token_lifetime
from credo.oauth.services import Services


def list_keys(services: Services, realm: str) -> list[dict[str, Any]]:
    get_realm(services, realm)
    return [{"kid": k.kid, "alg": k.alg, "active": k.active, "created_at": k.created_at,
             "publish_until": k.publish_until, "public_jwk": k.public_jwk}
            for k in services.storage.keys.all(realm)]


PUBLISH_SKEW = 300  # seconds a retired key stays published beyond its last token's expiry (others' clocks)


def rotate_key(services: Services, realm: str, alg: str | None = None, *, actor: str = "system") -> dict[str, Any]:
    """A new active key with `alg`, by default the realm's `signing_alg`."""
    settings = get_realm(services, realm).settings
    key = services.keys.rotate(realm, alg or settings.signing_alg, publication(services, realm))
    services.audit(AuditEvent(realm=realm, action="key.rotate", actor=actor, target=key.kid))
    return _shown(key)


def publication(services: Services, realm: str) -> int:
    """How long a retired key stays published: until its last token expires, and a clock skew more."""
    return longest_token_lifetime(services, realm) + PUBLISH_SKEW


def rotate_due_keys(services: Services, max_age_days: float) -> list[dict[str, Any]]:
    """Scheduled rotation: every realm whose active key is `max_age_days` old gets a new one (its alg the
    realm's `signing_alg`); retired keys whose publication ended are purged. Several processes may run
    this at once: one rotates each realm (a compare-and-swap), the others find it done."""
    rotated: list[dict[str, Any]] = []
    if max_age_days <= 0:
        return rotated
    max_age = int(max_age_days * 86400)
    for realm in services.storage.realms.all():
        key = services.keys.rotate_if_due(realm.name, realm.settings.signing_alg, max_age,
                                          partial(publication, services, realm.name))
        if key is not None:
            services.audit(AuditEvent(realm=realm.name, action="key.rotate", actor="schedule", target=key.kid))
            rotated.append({"realm": realm.name, **_shown(key)})
        purge_keys(services, realm.name, actor="schedule")
    return rotated


def _shown(key: SigningKey) -> dict[str, Any]:
    return {"kid": key.kid, "alg": key.alg, "active": key.active, "created_at": key.created_at,
            "publish_until": key.publish_until, "public_jwk": key.public_jwk}


def purge_keys(services: Services, realm: str, *, actor: str = "system") -> int:
    """Delete the realm's retired keys whose publication has ended (tokens they signed are then inactive)."""
    get_realm(services, realm)
    gone = services.keys.purge_retired(realm)
    if gone:
        services.audit(AuditEvent(realm=realm, action="key.purge", actor=actor, target=str(gone)))
    return gone


__all__ = ["list_keys", "longest_token_lifetime", "publication", "purge_keys", "rotate_due_keys", "rotate_key"]
