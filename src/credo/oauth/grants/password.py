"""Resource Owner Password Credentials Grant (RFC 6749 §4.3): a trusted client sends a user's
username and password. Off unless both the realm and the client enable it (OAuth 2.1 removes it: the
authorization code flow signs users in through the browser instead).

The credentials are checked as the sign-in page checks them (`sessions.authenticate_user`): failures are
counted per (realm, username, source address) and per (realm, username); past the limit the answer is
`too_many_requests` (429, Retry-After), even for the right password. Before the limit, a wrong password,
an unknown and an inactive user look the same."""

from __future__ import annotations

import uuid

from credo.domain.models import Client, Realm
from credo.domain.settings import GRANT_PASSWORD
from credo.oauth.scopes import single
from credo.oauth.services import Services
from credo.oauth.sessions import BAD_CREDENTIALS, authenticate_user
from credo.oauth.token_endpoint import Grant, TokenRequest
from credo.storage.unit_of_work import UnitOfWork

__all__ = ["BAD_CREDENTIALS", "Password", "refresh_enabled"]


def refresh_enabled(realm: Realm) -> bool:
    """Whether the password grant issues a refresh token: the realm's `issue_refresh_tokens` alone decides
    (issuing one implies the refresh_token grant that redeems it, for the realm and the client alike)."""
    return realm.settings.issue_refresh_tokens


class Password:
    grant_type = GRANT_PASSWORD

    async def __call__(self, services: Services, request: TokenRequest, client: Client,
                       requested_scopes: tuple[str, ...], work: UnitOfWork) -> Grant:
        username = single(request.params, "username", required=True) or ""
        password = single(request.params, "password", required=True) or ""
        user = await authenticate_user(services, request.realm, username, password, request.source,
                                       via=f"client:{client.client_id}")
        refresh = refresh_enabled(request.realm)
        # The refresh-token family is chosen now, so the access token can carry it (revoked with it).
        return Grant(sub=user.id, allowed_scopes=client.scopes, user=True, issue_refresh_token=refresh,
                     refresh_claims={"family": uuid.uuid4().hex} if refresh else {})
