"""The token endpoint's shared pipeline (RFC 6749 §3.2), which every grant plugs into:

    client authentication → grant allowed for this realm and client → DPoP proof → grant → scope policy
    → issue → commit the request's unit of work

No grant handler can skip a step: handlers only decide who the token is for and which scopes are allowed.
Every write of the request (new token records, audit events) goes into its unit of work, committed before
the answer, and also when the request is refused (a denial's audit event is kept).

DPoP (RFC 9449, oauth/dpop.py) is a step of the pipeline, so every grant has it: a request with a `DPoP`
header is checked before the grant runs, and its key's thumbprint is handed to the grant
(`TokenRequest.jkt`: a grant whose credential is bound to a key checks it with `dpop.require_key` before
it consumes anything), put in the access token (`cnf.jkt`, `token_type: DPoP`) and, for a public client,
in the refresh token. A client registered with `dpop_bound_access_tokens` is refused without a proof.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import field, replace
from typing import Any, Protocol

from credo.domain.errors import InvalidDpopProof, InvalidRequest, UnauthorizedClient, UnsupportedGrantType
from credo.domain.models import Client, Realm
from credo.domain.settings import public_client_grant, with_implied_refresh
from credo.domain.values import value_object
from credo.oauth.client_auth import authenticate_client
from credo.oauth.credentials import BasicCredentials
from credo.oauth.dpop import DpopRequest, check_proof
from credo.oauth.oidc import id_token
from credo.oauth.scopes import grant_scopes, parse_scope
from credo.oauth.services import Services
from credo.oauth.tokens import FAMILY_CLAIM, GRANT_CLAIM, issue_access_token
from credo.storage.unit_of_work import UnitOfWork


@value_object
class TokenRequest:
    realm: Realm
    params: dict[str, str]
    basic: BasicCredentials | None = None  # from an `Authorization: Basic` header
    source: str = ""
    resources: tuple[str, ...] = ()  # every `resource` parameter (RFC 8707: it may be repeated)
    dpop: DpopRequest | None = None  # a `DPoP` header came (RFC 9449)
    jkt: str | None = None  # set by the pipeline only: the thumbprint of the verified DPoP proof's key


@value_object
class Grant:
    """A grant handler's decision."""

    sub: str
    allowed_scopes: tuple[str, ...]
    audience: tuple[str, ...] | None = None
    act: dict[str, Any] | None = None
    user: bool = False
    not_after: int | None = None
    issue_refresh_token: bool = False
    response_extra: dict[str, Any] = field(default_factory=dict)
    token_client: Client | None = None  # the client the token is issued to, when not the caller
    refresh_claims: dict[str, Any] = field(default_factory=dict)  # carried into a rotated refresh token
    family: str | None = None  # a refresh-token family the access token dies with (claim `fid`)
    grant_id: str | None = None  # the user's consent the token dies with (claim `gid`)
    id_token: dict[str, Any] | None = None  # OpenID Connect: the ID token's own claims (sub, auth_time, ...)
    body: dict[str, Any] | None = None  # the whole answer, when the grant issued no access token (an ID-JAG)


class GrantHandler(Protocol):
    grant_type: str

    def __call__(self, services: Services, request: TokenRequest, client: Client,
                 requested_scopes: tuple[str, ...], work: UnitOfWork) -> Awaitable[Grant]: ...


class RefreshIssuer(Protocol):
    def __call__(self, services: Services, request: TokenRequest, client: Client, grant: Grant,
                 scopes: tuple[str, ...], work: UnitOfWork) -> str: ...


class TokenEndpoint:
    def __init__(self, services: Services, handlers: list[GrantHandler],
                 refresh_issuer: RefreshIssuer | None = None) -> None:
        self._services = services
        self._handlers = {h.grant_type: h for h in handlers}
        self._refresh_issuer = refresh_issuer

    @property
    def grant_types(self) -> tuple[str, ...]:
        return tuple(self._handlers)

    async def handle(self, request: TokenRequest) -> dict[str, Any]:
        work = UnitOfWork()
        try:
            return await self.decide(request, work)
        finally:
            await self._services.commit(work)

    async def decide(self, request: TokenRequest, work: UnitOfWork) -> dict[str, Any]:
        """The answer, with the request's writes collected in `work` (not yet stored)."""
        services, params, realm = self._services, request.params, request.realm
        client = await authenticate_client(services, realm.name, params, request.basic,
                                           source=request.source, endpoint="access_token")
        grant_type = params.get("grant_type")
        if not grant_type:
            raise InvalidRequest("missing grant_type", description="The 'grant_type' parameter is required.")
        handler = self._handlers.get(grant_type)
        if handler is None or grant_type not in realm.settings.enabled_grant_types():
            raise UnsupportedGrantType(f"grant {grant_type!r} not supported in realm {realm.name}")
        if grant_type not in with_implied_refresh(client.grant_types, realm.settings.issue_refresh_tokens):
            raise UnauthorizedClient(f"client {client.client_id} may not use {grant_type}")
        if public_client_grant(client.auth_method, (grant_type,)):  # stored before the rule, or imported
            raise UnauthorizedClient(f"public client {client.client_id} may not use {grant_type}")
        jkt = None
        if request.dpop is not None:
            jkt = (await check_proof(services, realm, request.dpop)).jkt
            request = replace(request, jkt=jkt)
        elif client.dpop_bound:
            raise InvalidDpopProof(f"client {client.client_id} requires DPoP",
                                   description="This client's tokens are DPoP-bound: send a DPoP proof.")
        requested = parse_scope(params.get("scope"))
        grant = await handler(services, request, client, requested, work)
        if grant.body is not None:  # nothing more to issue (an ID-JAG): the grant's answer as it is
            services.note_use(request.realm.name, client.client_id)
            return grant.body
        scopes = grant_scopes(requested, grant.allowed_scopes)
        family = grant.refresh_claims.get("family") if grant.issue_refresh_token and self._refresh_issuer else None
        family = family or grant.family
        extra = {FAMILY_CLAIM: family} if family else {}
        if grant.grant_id:
            extra[GRANT_CLAIM] = grant.grant_id
        if jkt is not None:
            extra["cnf"] = {"jkt": jkt}
            if client.is_public:  # RFC 9449 §5: a public client's refresh token is bound to the key too
                grant = replace(grant, refresh_claims={**grant.refresh_claims, "jkt": jkt})
        issued = await issue_access_token(
            services, realm, client, sub=grant.sub, scopes=scopes, grant_type=grant_type,
            audience=grant.audience, act=grant.act, user=grant.user, not_after=grant.not_after,
            extra=extra or None, work=work)
        services.note_use(realm.name, client.client_id)
        body: dict[str, Any] = {"access_token": issued.token.value}
        if grant.issue_refresh_token and self._refresh_issuer is not None:
            body["refresh_token"] = self._refresh_issuer(services, request, client, grant, scopes, work)
        if grant.id_token is not None and "openid" in scopes:
            body["id_token"] = await id_token(services, realm, client, grant.id_token, issued.token.value)
        body.update(grant.response_extra)
        body.update({"scope": " ".join(scopes), "token_type": "Bearer" if jkt is None else "DPoP",
                     "expires_in": issued.expires_in})
        return body
