"""Who may act, for whom, on what: the token-exchange decision (RFC 8693) as a pure function.

The grant handler gathers the facts (the verified subject token, the target application, the agent's
policy, the user's groups); `decide` returns the token to issue or raises the one OAuth error that
explains the refusal. It touches no storage and no clock, so it can be tested exhaustively.
"""

from __future__ import annotations

from typing import Any, Literal

from credo.domain.errors import AccessDenied, InvalidGrant, InvalidRequest, InvalidScope, InvalidTarget
from credo.domain.models import ATTR_ACCEPT_AUDIENCE, OVERRIDE_LABELS, OVERRIDES_LABEL, ApplicationPolicy, Client
from credo.domain.values import value_object
from credo.oauth.scopes import grant_scopes

ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"
SUBJECT_TOKEN_TYPES = (ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE)


@value_object
class Subject:
    """What the verified subject token says, and (for a user token) the user's standing."""

    sub: str
    client_id: str
    is_user: bool
    act: dict[str, Any] | None = None
    may_act: Any = None
    user_active: bool = True
    user_groups: tuple[str, ...] = ()


@value_object
class Target:
    client_id: str
    kind: str
    enabled: bool
    scopes: tuple[str, ...]


@value_object
class ExchangeFacts:
    agent_id: str
    subject: Subject
    target: Target | None
    policy: ApplicationPolicy | None
    requested_scopes: tuple[str, ...]
    max_depth: int


@value_object
class Decision:
    mode: Literal["autonomous", "on_behalf_of"]
    sub: str
    act: dict[str, Any]
    audience: tuple[str, ...]
    scopes: tuple[str, ...]
    user: bool


NO_AUDIENCE = "This agent does not accept audience parameters in token exchange requests."


def audience_refusal(agent: Client, who: str = "This agent") -> str:
    """Why `agent` may not name its target with `audience`, naming the setting that is off (no full stop)."""
    head, accept = f"{who} does not accept audience parameters in token exchange requests", \
        OVERRIDE_LABELS[ATTR_ACCEPT_AUDIENCE]
    if agent.overrides_enabled:
        return f"{head}: {accept} is off"
    if ATTR_ACCEPT_AUDIENCE in agent.inert_overrides:
        return f"{head}: {accept} is on, but {OVERRIDES_LABEL} is off"
    return f"{head}: it needs {OVERRIDES_LABEL} and {accept}"


def choose_target(audience: str | None, resource: str | None, accepts_audience: bool,
                  refusal: str = NO_AUDIENCE) -> str:
    """The one application named by `audience` and/or `resource`; `refusal` says why an agent that does
    not accept audience parameters was refused."""
    if resource is None and audience is not None and accepts_audience:  # the usual request
        words = audience.split()
        if len(words) == 1:
            return words[0]
    given = [v for v in (audience, resource) if v is not None]
    if not given:
        raise InvalidTarget("no audience", description="The 'audience' parameter naming the target application is required.")
    if not accepts_audience:
        raise InvalidTarget("agent does not accept audience parameters", description=refusal)
    names = {v.strip() for v in given}
    if len(names) != 1 or any(len(v.split()) != 1 for v in given):
        raise InvalidTarget("not exactly one target", description="Name exactly one target application.")
    return names.pop()


def actor_chain(act: Any) -> list[str]:
    """The `sub`s of a nested `act` claim, outermost first (malformed chains are refused)."""
    chain: list[str] = []
    while act is not None:
        if not isinstance(act, dict) or not isinstance(act.get("sub"), str) or len(chain) > 32:
            raise InvalidGrant("malformed act claim")
        chain.append(act["sub"])
        act = act.get("act")
    return chain


def _check_may_act(may_act: Any, agent_id: str) -> None:
    """RFC 8693 §4.4: when the subject token names who may act, the agent must be that party."""
    if may_act is None:
        return
    if not isinstance(may_act, dict) or not ({"sub", "client_id"} & set(may_act)):
        raise InvalidGrant("may_act names nobody", description="The subject token does not allow this agent to act.")
    if any(may_act[k] != agent_id for k in ("sub", "client_id") if k in may_act):
        raise InvalidGrant(f"may_act does not name {agent_id}",
                           description="The subject token does not allow this agent to act.")


def _nested_act(agent_id: str, previous: dict[str, Any] | None, max_depth: int) -> dict[str, Any]:
    depth = 1 + len(actor_chain(previous))
    if depth > max_depth:
        raise InvalidGrant(f"delegation depth {depth} over {max_depth}",
                           description=f"The delegation chain would exceed {max_depth} actors.")
    return {"sub": agent_id} if previous is None else {"sub": agent_id, "act": previous}


NO_ACCESS = "This agent has no access to the target application."


def _check_target(facts: ExchangeFacts) -> tuple[Target, ApplicationPolicy]:
    target, policy = facts.target, facts.policy
    # One answer whether the application does not exist, is not an application, is disabled or has no
    # policy for this agent: the answers must not tell an agent which application ids exist.
    if target is None or target.kind != "application" or not target.enabled:
        raise InvalidTarget("target is not an enabled application", description=NO_ACCESS)
    if policy is None or policy.agent_id != facts.agent_id or policy.application_id != target.client_id:
        raise InvalidTarget(f"no policy {facts.agent_id}->{target.client_id}", description=NO_ACCESS)
    return target, policy


def _check_subject(facts: ExchangeFacts, policy: ApplicationPolicy) -> None:
    subject = facts.subject
    if not subject.is_user:
        # Autonomous: an agent may only exchange its own token; anything else is a confused deputy.
        if subject.sub != facts.agent_id or subject.client_id != facts.agent_id:
            raise InvalidGrant("subject token belongs to another client",
                               description="The subject token was not issued to this agent.")
        return
    if not subject.user_active:
        raise InvalidGrant("user inactive")
    if subject.sub in policy.subjects or set(subject.user_groups) & set(policy.subject_groups):
        return
    raise AccessDenied(f"user {subject.sub} not a subject of the policy",
                       description="This agent may not act on behalf of this user for the target application.")


def allowed_scopes(policy: ApplicationPolicy, target: Target) -> tuple[str, ...]:
    return policy.permissions if policy.permissions else target.scopes


def decide(facts: ExchangeFacts) -> Decision:
    _check_may_act(facts.subject.may_act, facts.agent_id)
    act = _nested_act(facts.agent_id, facts.subject.act, facts.max_depth)
    target, policy = _check_target(facts)
    _check_subject(facts, policy)
    scopes = grant_scopes(facts.requested_scopes, allowed_scopes(policy, target))
    if not scopes:
        raise InvalidScope("nothing to grant", description="The policy allows no scope for the target application.")
    subject = facts.subject
    return Decision(mode="on_behalf_of" if subject.is_user else "autonomous", sub=subject.sub, act=act,
                    audience=(facts.agent_id, target.client_id), scopes=scopes, user=subject.is_user)


def check_token_type(name: str, value: str | None) -> str:
    if not value:
        raise InvalidRequest(f"missing {name}", description=f"The '{name}' parameter is required.")
    if value not in SUBJECT_TOKEN_TYPES:
        raise InvalidRequest(f"unsupported {name} {value!r}", description=f"Unsupported {name}.")
    return value
