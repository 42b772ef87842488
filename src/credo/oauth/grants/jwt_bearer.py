"""The JWT bearer grant (RFC 7523 §2.1), `urn:ietf:params:oauth:grant-type:jwt-bearer`, for two assertions:

- an Identity Assertion JWT Authorization Grant (`typ` `oauth-id-jag+jwt`, or an issuer the realm trusts for
  ID-JAGs): an access token for the user it asserts, to the authenticated client (`oauth/id_jag.py`);
- a workload token of a trusted platform issuer (`oauth/federation.py`): an access token for the agent it maps
  to, like client credentials. Sent alone it has already authenticated the agent; sent by a client that
  authenticated otherwise, it must map to that same client.
"""

from __future__ import annotations

from credo.domain.errors import InvalidGrant, InvalidRequest, UnauthorizedClient
from credo.domain.models import Client
from credo.domain.settings import GRANT_JWT_BEARER
from credo.oauth import id_jag
from credo.oauth.federation import bearer_authenticates, is_id_jag, peek, verify_workload_token
from credo.oauth.resources import resolve_resources
from credo.oauth.services import Services
from credo.oauth.token_endpoint import Grant, TokenRequest
from credo.storage.unit_of_work import UnitOfWork


class JwtBearer:
    grant_type = GRANT_JWT_BEARER

    async def __call__(self, services: Services, request: TokenRequest, client: Client,
                       requested_scopes: tuple[str, ...], work: UnitOfWork) -> Grant:
        assertion = request.params.get("assertion")
        if not assertion:
            raise InvalidRequest("missing assertion", description="The 'assertion' parameter is required.")
        seen = peek(assertion)
        if seen is None:
            raise InvalidGrant("assertion is not a JWS", description="The assertion is not a signed JWT.")
        header, claims = seen
        if is_id_jag(header) or id_jag.trusted_issuer(request.realm, claims.get("iss")) is not None:
            return await id_jag.redeem(services, request, client, assertion, work)
        if not bearer_authenticates(request.realm, request.params, request.basic):
            agent = await verify_workload_token(services, request.realm, assertion, InvalidGrant)
            if agent.client_id != client.client_id:
                raise InvalidGrant(f"workload token maps to {agent.client_id}, not to {client.client_id}")
        if not client.is_agent:
            raise UnauthorizedClient(f"{client.client_id} is not an agent")
        resources = resolve_resources(services, request.realm, request.resources)
        return Grant(sub=client.client_id, allowed_scopes=client.scopes, audience=resources or None)
