"""A client's OAuth2 provider overrides, and what an administrator is told when they cannot work.

The overrides (`statelessTokensEnabled`, `acceptAudienceParametersInTokenExchangeRequests`,
`accessTokenLifetime`) take effect only while `providerOverridesEnabled` ("Enable OAuth2 Provider
Overrides") is on, as in the guides. So:

- a change that turns an override on while overrides stay off is refused (`check_turned_on`): it would
  be accepted and do nothing;
- an override stored while overrides are off (turned off later, or set by an import or a DCR script) is
  kept, and the surfaces that show the client warn about it (`override_warnings`);
- an agent's application policies that it cannot use are named (`policy_warnings`), and so is the
  missing setting when an exchange is refused for it (`oauth.exchange_policy.audience_refusal`).
"""

from __future__ import annotations

from credo.domain.errors import InvalidRequest
from credo.domain.models import (
    ATTR_ACCEPT_AUDIENCE,
    ATTR_OVERRIDES_ENABLED,
    ATTR_STATELESS,
    OVERRIDE_LABELS,
    OVERRIDES_LABEL,
    ApplicationPolicy,
    Client,
    Realm,
)
from credo.domain.settings import GRANT_TOKEN_EXCHANGE
from credo.oauth.exchange_policy import audience_refusal

# The use cases' names of the overrides an administrator turns on and off.
FIELDS = {"stateless_tokens": ATTR_STATELESS, "accept_audience": ATTR_ACCEPT_AUDIENCE}


def _on(values: list[str] | None) -> bool:
    return bool(values) and str(values[0]).lower() == "true"  # type: ignore[index]


def stored_flags(client: Client) -> dict[str, bool]:
    """The overrides as stored, whether or not they take effect, by the use cases' names."""
    return {"overrides_enabled": _on(client.attributes.get(ATTR_OVERRIDES_ENABLED)),
            **{field: _on(client.attributes.get(attr)) for field, attr in FIELDS.items()}}


def check_turned_on(before: Client | None, attributes: dict[str, list[str]]) -> None:
    """Refuse a change (`before` None: a creation) that turns an override on while overrides stay off."""
    if _on(attributes.get(ATTR_OVERRIDES_ENABLED)):
        return
    for field, attr in FIELDS.items():
        if _on(attributes.get(attr)) and not (before is not None and _on(before.attributes.get(attr))):
            raise InvalidRequest(f"{field} without overrides",
                                 description=f"{field}: {OVERRIDE_LABELS[attr]} needs overrides_enabled "
                                             f"({OVERRIDES_LABEL}); turn that on too, or this does nothing.")


def override_warnings(client: Client) -> list[str]:
    return [f"{OVERRIDE_LABELS[attr]} is set but does nothing: {OVERRIDES_LABEL} is off."
            for attr in client.inert_overrides]


def _agent_blockers(realm: Realm, agent: Client) -> list[str]:
    blockers = []
    if not agent.enabled:
        blockers.append("the agent is disabled")
    if GRANT_TOKEN_EXCHANGE not in agent.grant_types:
        blockers.append("the agent does not have the Token Exchange grant")
    if GRANT_TOKEN_EXCHANGE not in realm.settings.grant_types:
        blockers.append("the realm does not enable the Token Exchange grant")
    return blockers


def policy_warnings(realm: Realm, agent: Client, policies: list[ApplicationPolicy],
                    applications: dict[str, Client]) -> list[str]:
    """The agent's application policies it cannot use, and why (`applications`: the realm's, by client id)."""
    if not policies:
        return []
    blockers = _agent_blockers(realm, agent)
    if blockers:
        return [f"This agent cannot use its application policies: {'; '.join(blockers)}."]
    out = []
    for policy in policies:
        app = applications.get(policy.application_id)
        if app is None or not app.enabled:
            out.append(f"The policy for {policy.application_id} cannot be used: the application is disabled.")
        elif not agent.accepts_audience and not app.resources:
            out.append(f"The policy for {app.client_id} cannot be used: {audience_refusal(agent, 'the agent')} "
                       "(and the application has no resource identifier to name it by instead).")
    return out
