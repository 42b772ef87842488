"""Initial access tokens (RFC 7591 §3): a client-credentials access token of the realm with the
`dcr_register` scope, obtained at the realm's token endpoint and used up by one registration.

The ones stored by the server (opaque tokens; a realm issuing stateless JWTs keeps none to list) can be
listed with whether they were used, and revoked before use: the token record goes and its id is marked
revoked, as `/token/revoke` does."""

from __future__ import annotations

from typing import Any

from credo.domain.errors import NotFound
from credo.domain.models import AuditEvent, TokenRecord
from credo.oauth.registration_protection import DCR_SCOPE
from credo.oauth.services import Services
from credo.oauth.tokens import REVOKED_PREFIX


def _initial(services: Services, realm: str) -> list[TokenRecord]:
    services.realm(realm)  # an unknown realm is an error, not an empty list
    return [r for r in services.storage.tokens.of_realm(realm, services.clock.now())
            if r.kind == "access_token" and DCR_SCOPE in r.scopes and r.claims.get("grant_type") == "client_credentials"]


def _shown(services: Services, r: TokenRecord) -> dict[str, Any]:
    return {"id": r.jti, "client_id": r.client_id, "scopes": list(r.scopes), "issued_at": r.issued_at,
            "expires_at": r.expires_at, "used": services.storage.one_time.is_burned(r.realm, REVOKED_PREFIX + r.jti)}


def list_initial_access_tokens(services: Services, realm: str) -> list[dict[str, Any]]:
    """The realm's unexpired stored initial access tokens (never their values), oldest first."""
    return [_shown(services, r) for r in _initial(services, realm)]


def _find(services: Services, realm: str, token_id: str) -> TokenRecord:
    for record in _initial(services, realm):
        if record.jti == token_id:
            return record
    raise NotFound(f"initial access token {token_id}",
                   description=f"id: initial access token '{token_id}' does not exist or expired.")


def get_initial_access_token(services: Services, realm: str, token_id: str) -> dict[str, Any]:
    return _shown(services, _find(services, realm, token_id))


def revoke_initial_access_token(services: Services, realm: str, token_id: str, *, actor: str = "system") -> None:
    record = _find(services, realm, token_id)
    services.storage.one_time.burn(realm, REVOKED_PREFIX + record.jti, record.expires_at)
    services.storage.tokens.delete(record.token_hash)
    services.audit(AuditEvent(realm=realm, action="initial_access_token.revoke", actor=actor,
                              target=record.client_id, details={"id": token_id}))
