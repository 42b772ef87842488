"""Initial access tokens (RFC 7591 §3): a client-credentials access token of the realm with the
`dcr_register` scope, obtained at the realm's token endpoint and used up by one registration.

The ones stored by the server (opaque tokens; a realm issuing stateless JWTs keeps none to list) can be
listed with whether they were used, and revoked before use: the token record goes and its id is marked
revoked, as `/token/revoke` does.

An administrator may also issue one for an onboarding client without running the client credentials
grant: `issue_initial_access_token` picks an existing client of the realm that could obtain it at the
token endpoint (enabled, the client credentials grant, the `dcr_register` scope) and issues it with the
core's `access_token_claims` and `stored_access_token` (as `issue_access_token` does for a client of
stored tokens), so the token is the same stored access token the grant would give (only its lifetime is
chosen by the administrator)."""

from __future__ import annotations

from typing import Any

from credo.domain.errors import InvalidRequest, NotFound
from credo.domain.models import AuditEvent, Client, TokenRecord
from credo.oauth.registration_protection import DCR_SCOPE
from credo.oauth.services import Services
from credo.oauth.tokens import REVOKED_PREFIX, access_token_claims, stored_access_token, wants_stateless
from credo.storage.unit_of_work import UnitOfWork

GRANT = "client_credentials"
MIN_LIFETIME, MAX_LIFETIME, DEFAULT_LIFETIME = 60, 30 * 86400, 86400
NOTE_MAX = 200


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


def can_issue_for(client: Client) -> bool:
    """Whether `client` could obtain an initial access token at the token endpoint itself (a DPoP-bound
    client's tokens are bound to its key there: the console does not hand out an unbound one for it)."""
    return client.enabled and GRANT in client.grant_types and DCR_SCOPE in client.scopes and not client.dpop_bound


def issuing_clients(services: Services, realm: str) -> list[Client]:
    """The realm's clients an initial access token can be issued for (see `can_issue_for`)."""
    services.realm(realm)
    return [c for c in services.storage.clients.all(realm) if can_issue_for(c)]


def issue_initial_access_token(services: Services, realm: str, client_id: str, *, lifetime: int = DEFAULT_LIFETIME,
                               note: str = "", actor: str = "system") -> dict[str, Any]:
    """Issue an initial access token for `client_id` valid `lifetime` seconds: the value is returned once
    (stored only as a keyed hash); audited as `initial_access_token.issue` with the note."""
    realm_record = services.realm(realm)
    client = services.storage.clients.get(realm, client_id) if client_id else None
    if client is None or not can_issue_for(client):
        raise InvalidRequest(f"no onboarding client {client_id!r}",
                             description=f"client_id: pick an enabled client of realm {realm} with the "
                                         f"{GRANT} grant and the {DCR_SCOPE} scope.")
    if wants_stateless(realm_record, client):
        raise InvalidRequest(f"client {client_id} issues stateless tokens",
                             description=f"client_id: {client_id} issues stateless tokens, which are not stored "
                                         "and cannot be listed; pick a client with stored tokens.")
    if not MIN_LIFETIME <= lifetime <= MAX_LIFETIME:
        raise InvalidRequest(f"lifetime {lifetime} out of range",
                             description=f"lifetime: between {MIN_LIFETIME} seconds and {MAX_LIFETIME // 86400} days.")
    if len(note) > NOTE_MAX:
        raise InvalidRequest("note too long", description=f"note: at most {NOTE_MAX} characters.")
    work = UnitOfWork()
    claims = access_token_claims(services, realm_record, client, sub=client.client_id, scopes=(DCR_SCOPE,),
                                 grant_type=GRANT, lifetime=lifetime)
    issued = stored_access_token(services, realm_record, client, claims, work)
    token = issued.token
    work.audit(AuditEvent(realm=realm, action="initial_access_token.issue", actor=actor, target=client.client_id,
                          details={"id": token.jti, "expires_at": token.exp, **({"note": note} if note else {})}))
    services.commit_now(work)
    return {"id": token.jti, "client_id": client.client_id, "access_token": token.value,
            "expires_at": token.exp, "note": note}
