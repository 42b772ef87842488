"""Client Credentials Grant (RFC 6749 §4.4): the client acts for itself; scopes come from its registration.
With `resource` (RFC 8707) the token is for those resource servers: its `aud` is their identifiers."""

from __future__ import annotations

from credo.domain.models import Client
from credo.domain.settings import GRANT_CLIENT_CREDENTIALS
from credo.oauth.resources import resolve_resources
from credo.oauth.services import Services
from credo.oauth.token_endpoint import Grant, TokenRequest
from credo.storage.unit_of_work import UnitOfWork


class ClientCredentials:
    grant_type = GRANT_CLIENT_CREDENTIALS

    async def __call__(self, services: Services, request: TokenRequest, client: Client,
                       requested_scopes: tuple[str, ...], work: UnitOfWork) -> Grant:
        resources = resolve_resources(services, request.realm, request.resources)
        return Grant(sub=client.client_id, allowed_scopes=client.scopes, audience=resources or None)
