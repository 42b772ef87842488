"""Audit the token-exchange refusals the shared pipeline makes before the grant runs.

After client authentication succeeded, the pipeline may still refuse a token exchange because the realm
does not enable it (`unsupported_grant_type`) or the client did not register it (`unauthorized_client`).
A request for an ID-JAG (`oauth/id_jag.py`) is audited under that action, `id_jag`.
Those are denials of an authenticated caller, so they are audited like the grant's own. Failed client
authentication is not audited (anyone could fill the audit log with it); it is logged.
"""

from __future__ import annotations

from typing import Any

from credo.domain.errors import OAuthError, UnauthorizedClient, UnsupportedGrantType
from credo.domain.models import AuditEvent
from credo.domain.settings import GRANT_TOKEN_EXCHANGE
from credo.oauth.federation import ID_JAG_TOKEN_TYPE
from credo.oauth.token_endpoint import TokenEndpoint, TokenRequest
from credo.storage.unit_of_work import UnitOfWork

AUDITED = "_credo_audited"


def mark_audited(exc: OAuthError) -> None:
    setattr(exc, AUDITED, True)


def _caller(request: TokenRequest) -> str:
    basic = request.basic
    if basic is not None:
        return "anonymous" if basic.malformed else basic.client_id
    return request.params.get("client_id") or "anonymous"


class AuditedTokenEndpoint(TokenEndpoint):
    async def decide(self, request: TokenRequest, work: UnitOfWork) -> dict[str, Any]:
        try:
            return await super().decide(request, work)
        except (UnsupportedGrantType, UnauthorizedClient) as exc:
            params = request.params
            if params.get("grant_type") == GRANT_TOKEN_EXCHANGE and not getattr(exc, AUDITED, False):
                id_jag = params.get("requested_token_type") == ID_JAG_TOKEN_TYPE  # audited with the ID-JAG decisions
                work.audit(AuditEvent(
                    realm=request.realm.name, action="id_jag" if id_jag else "token_exchange", actor=_caller(request), decision="deny",
                    target=params.get("audience") or params.get("resource") or "", reason=f"{exc.error}: {exc.detail}",
                    details={"subject": None, "actor_chain": [], "audience": params.get("audience") or params.get("resource"),
                             "scopes_requested": (params.get("scope") or "").split(), "scopes_granted": []}))
            raise
