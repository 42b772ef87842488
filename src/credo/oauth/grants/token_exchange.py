"""Token Exchange (RFC 8693) for AI agents: an agent trades a subject token (its own, or a user's) for a
token scoped to one application, as its application policy allows. Every decision is audited."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from credo.domain.errors import InvalidGrant, InvalidRequest, InvalidTarget, OAuthError, UnauthorizedClient
from credo.domain.models import ApplicationPolicy, AuditEvent, Client, Realm
from credo.domain.settings import GRANT_TOKEN_EXCHANGE
from credo.oauth.dpop import require_key, token_jkt
from credo.oauth.exchange_audit import mark_audited
from credo.oauth.exchange_policy import (
    ACCESS_TOKEN_TYPE,
    JWT_TOKEN_TYPE,
    NO_AUDIENCE,
    Decision,
    ExchangeFacts,
    Subject,
    Target,
    audience_refusal,
    check_token_type,
    choose_target,
    decide,
)
from credo.oauth.federation import ID_JAG_TOKEN_TYPE
from credo.oauth.id_jag import issue as issue_id_jag
from credo.oauth.resources import resource_client
from credo.oauth.services import Services
from credo.oauth.token_endpoint import Grant, TokenRequest
from credo.oauth.tokens import FAMILY_CLAIM, GRANT_CLAIM, AccessToken, read_access_token
from credo.storage.unit_of_work import UnitOfWork


def read_token(services: Services, realm: Realm, value: str, token_type: str, what: str) -> AccessToken:
    """A live access token of this realm, or invalid_grant."""
    token = read_access_token(services, realm, value)
    if token is None or token.exp <= services.clock.now():
        raise InvalidGrant(f"{what} not active", description=f"The {what} is invalid, expired or revoked.")
    if token_type == JWT_TOKEN_TYPE and not token.stateless:
        raise InvalidGrant(f"{what} is not a JWT", description=f"The {what} is not a JWT.")
    return token


def _check_actor_token(services: Services, request: TokenRequest, agent: Client) -> None:
    value, kind = request.params.get("actor_token"), request.params.get("actor_token_type")
    if value is None and kind is None:
        return
    if not value:
        raise InvalidRequest("actor_token_type without actor_token",
                             description="The 'actor_token' parameter is required with 'actor_token_type'.")
    token = read_token(services, request.realm, value, check_token_type("actor_token_type", kind), "actor token")
    require_key(request.jkt, token_jkt(token.claims), "actor token")
    if token.client_id != agent.client_id or token.sub != agent.client_id or token.is_user_token:
        raise InvalidGrant("actor token is not the agent's own", description="The actor token does not identify this agent.")


def _subject(services: Services, realm: Realm, token: AccessToken, policy: ApplicationPolicy | None) -> Subject:
    """The subject as the policy decision sees it. The token was read as live, so its user exists and is
    active; the user's groups are looked up only when the policy could need them."""
    groups: tuple[str, ...] = ()
    if token.is_user_token and policy is not None and policy.subject_groups and token.sub not in policy.subjects:
        groups = services.groups_of(realm.name, token.sub)
    return Subject(sub=token.sub, client_id=token.client_id, is_user=token.is_user_token, act=token.act,
                   may_act=token.claims.get("may_act"), user_active=True, user_groups=groups)


def _policy(services: Services, realm: Realm, agent_id: str, target_id: str) -> ApplicationPolicy | None:
    return services.storage.policies.get(realm.name, agent_id, target_id)


def _target(services: Services, realm: Realm, client_id: str) -> Target | None:
    client = services.client(realm.name, client_id)
    if client is None:
        return None
    return Target(client_id=client.client_id, kind=client.kind, enabled=client.enabled, scopes=client.scopes)


class TokenExchange:
    grant_type = GRANT_TOKEN_EXCHANGE

    async def __call__(self, services: Services, request: TokenRequest, client: Client,
                       requested_scopes: tuple[str, ...], work: UnitOfWork) -> Grant:
        params = request.params
        if params.get("requested_token_type") == ID_JAG_TOKEN_TYPE:  # as identity provider: oauth/id_jag.py
            return await issue_id_jag(services, request, client, requested_scopes, work)
        details: dict[str, Any] = {"subject": None, "actor_chain": [],
                                   "audience": params.get("audience") or params.get("resource"),
                                   "scopes_requested": list(requested_scopes), "scopes_granted": []}
        try:
            decision, subject = self._decide(services, request, client, requested_scopes, details)
        except OAuthError as exc:
            self._audit(services, request, client, "deny", f"{exc.error}: {exc.detail}", details, work)
            mark_audited(exc)
            raise
        details.update(actor_chain=_chain(decision.act), scopes_granted=list(decision.scopes))
        self._audit(services, request, client, "allow", decision.mode, details, work)
        # A token from a refresh family or a user's consent dies with them (the user's My-account revocation).
        family, consent = subject.claims.get(FAMILY_CLAIM), subject.claims.get(GRANT_CLAIM)
        return Grant(sub=decision.sub, allowed_scopes=decision.scopes, audience=decision.audience, act=decision.act,
                     user=decision.user, not_after=subject.exp, family=str(family) if family else None,
                     grant_id=str(consent) if consent else None,
                     response_extra=_response_extra(request.realm))

    def _decide(self, services: Services, request: TokenRequest, client: Client, requested: tuple[str, ...],
                details: dict[str, Any]) -> tuple[Decision, AccessToken]:
        params, realm = request.params, request.realm
        if not client.is_agent:
            raise UnauthorizedClient(f"{client.client_id} is a {client.kind}, not an AI agent",
                                     description="Only AI agents may exchange tokens.")
        kind = check_token_type("subject_token_type", params.get("subject_token_type"))
        value = params.get("subject_token")
        if not value:
            raise InvalidRequest("missing subject_token", description="The 'subject_token' parameter is required.")
        requested_type = params.get("requested_token_type")
        if requested_type is not None and requested_type != ACCESS_TOKEN_TYPE:
            raise InvalidRequest("requested_token_type", description="Only access tokens can be issued.")
        token = read_token(services, realm, value, kind, "subject token")
        details["subject"] = token.sub
        require_key(request.jkt, token_jkt(token.claims), "subject token")  # RFC 9449 binding kept (SECURITY.md)
        _check_actor_token(services, request, client)
        if len(request.resources) > 1:
            raise InvalidTarget("several resources", description="Name exactly one target application.")
        resource = params.get("resource")
        named = resource_client(services, realm, resource) if resource is not None else None
        accepts = client.accepts_audience or named is not None
        target_id = choose_target(params.get("audience"), named.client_id if named else resource, accepts,
                                  NO_AUDIENCE if accepts else f"{audience_refusal(client)}.")
        policy = _policy(services, realm, client.client_id, target_id)
        facts = ExchangeFacts(agent_id=client.client_id, subject=_subject(services, realm, token, policy),
                              target=_target(services, realm, target_id), policy=policy,
                              requested_scopes=requested, max_depth=realm.settings.max_delegation_depth)
        decision = decide(facts)
        if named is not None and resource is not None:  # RFC 8707: the token's audience is the resource URL
            decision = replace(decision, audience=tuple(resource if a == target_id else a for a in decision.audience))
        return decision, token

    @staticmethod
    def _audit(services: Services, request: TokenRequest, client: Client, decision: str, reason: str,
               details: dict[str, Any], work: UnitOfWork) -> None:
        work.audit(AuditEvent(realm=request.realm.name, action="token_exchange", actor=client.client_id,
                                  decision="allow" if decision == "allow" else "deny",
                                  target=str(details["audience"] or ""), reason=reason, details=details,
                                  ts=services.clock.now()))


def _response_extra(realm: Realm) -> dict[str, Any]:
    """RFC 8693 §2.2.1: `issued_token_type`; no refresh token is issued, so the member is left out, unless
    the realm asks for the guides' literal `"refresh_token": null` (`exchange_null_refresh_token`)."""
    extra: dict[str, Any] = {"refresh_token": None} if realm.settings.exchange_null_refresh_token else {}
    return {**extra, "issued_token_type": ACCESS_TOKEN_TYPE}


def _chain(act: dict[str, Any]) -> list[str]:
    chain: list[str] = []
    node: Any = act
    while isinstance(node, dict):
        chain.append(str(node.get("sub")))
        node = node.get("act")
    return chain
