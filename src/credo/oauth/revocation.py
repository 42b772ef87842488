"""Token revocation (RFC 7009). Always 200 for a well-formed request by an authenticated client;
a token issued to another client is left alone, without saying so."""

from __future__ import annotations

from collections.abc import Mapping

from credo.domain.errors import InvalidRequest
from credo.domain.models import Realm, TokenRecord
from credo.oauth.client_auth import authenticate_client
from credo.oauth.credentials import BasicCredentials
from credo.oauth.grants.refresh_token import revoke_family, revoke_refresh_token
from credo.oauth.services import Services
from credo.oauth.tokens import REVOKED_PREFIX, read_access_token, revoke


async def revoke_token(services: Services, realm: Realm, params: Mapping[str, str], basic: BasicCredentials | None,
                 *, source: str = "") -> None:
    client = await authenticate_client(services, realm.name, params, basic, source=source, endpoint="token/revoke")
    value = params.get("token")
    if not value:
        raise InvalidRequest("missing token", description="The 'token' parameter is required.")
    token = read_access_token(services, realm, value, check_live=False)
    if token is not None and token.client_id == client.client_id:
        revoke(services, realm, token)
        return
    revoke_refresh_token(services, realm, client, value)


def revoke_record(services: Services, realm: Realm, record: TokenRecord) -> None:
    """Revoke a stored token an administrator chose: an access token's `jti` is burned until it expires,
    a refresh token's whole family (its access tokens too), as the revocation endpoint does."""
    if record.kind == "refresh_token":
        revoke_family(services, realm, record)
    else:
        services.storage.one_time.burn(realm.name, REVOKED_PREFIX + record.jti, record.expires_at)
    services.storage.tokens.delete(record.token_hash)
