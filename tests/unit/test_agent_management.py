"""Users, groups, applications, agents and policies: the management use cases, on every backend."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from credo.domain.errors import InvalidClientMetadata, InvalidRequest, NotFound, OAuthError
from credo.domain.models import Client
from credo.domain.settings import GRANT_TOKEN_EXCHANGE
from credo.management.agents import (
    create_agent,
    delete_agent,
    delete_policy,
    list_agents,
    list_policies,
    put_policy,
    set_agent_enabled,
    update_agent,
)
from credo.management.applications import create_application, delete_application, list_applications, update_application
from credo.management.groups import delete_group, list_groups, put_group
from credo.management.overrides import override_warnings, policy_warnings, stored_flags
from credo.management.realms import ensure_realm, update_settings
from credo.management.users import create_user, delete_user, find_user, get_user, list_users, update_user
from credo.oauth.services import Services
from credo.storage.protocols import Storage
from tests.support import services_for


@pytest.fixture
def services(any_storage: Storage, tmp_path: Path) -> Services:
    s = services_for(any_storage, tmp_path)
    ensure_realm(s, "alpha")
    return s


def _field_error(exc: type[OAuthError], field: str, call: object, *args: object, **kwargs: object) -> None:
    with pytest.raises(exc) as info:
        call(*args, **kwargs)  # type: ignore[operator]
    assert info.value.description.startswith(f"{field}:"), info.value.description


def test_users(services: Services) -> None:
    user = create_user(services, "alpha", "barbara.jensen", "a-password", actor="admin")
    assert uuid.UUID(user.id).version == 4
    assert user.password_hash.startswith("argon2$") and "a-password" not in user.password_hash
    assert find_user(services, "alpha", "barbara.jensen") == get_user(services, "alpha", user.id) == user
    for bad in ("", "x" * 256, "bad\nname", "tab\there", "del\x7f"):
        _field_error(InvalidRequest, "username", create_user, services, "alpha", bad, "pw")
    _field_error(InvalidRequest, "username", create_user, services, "alpha", "barbara.jensen", "pw")
    _field_error(InvalidRequest, "password", create_user, services, "alpha", "new", "")
    assert create_user(services, "alpha", "x" * 255, "pw").username == "x" * 255
    updated = update_user(services, "alpha", user.id, password="new-password", active=False)
    assert not updated.active and updated.password_hash != user.password_hash
    assert services.hasher.verify("new-password", updated.password_hash)
    assert [u.username for u in list_users(services, "alpha")] == ["barbara.jensen", "x" * 255]
    _field_error(NotFound, "user_id", get_user, services, "alpha", "nope")
    _field_error(NotFound, "username", find_user, services, "alpha", "nope")
    events = services.storage.audit.query("alpha", action="user.create")
    assert events and events[0].actor in ("admin", "system")
    assert all("a-password" not in repr(e) for e in services.storage.audit.query("alpha"))


def test_groups_and_deleting_a_user(services: Services) -> None:
    a = create_user(services, "alpha", "a", "pw")
    b = create_user(services, "alpha", "b", "pw")
    group = put_group(services, "alpha", "team", ["a", b.id, "a"])
    assert group.members == tuple(sorted((a.id, b.id)))
    _field_error(InvalidRequest, "members", put_group, services, "alpha", "team", ["ghost"])
    _field_error(InvalidRequest, "name", put_group, services, "alpha", "", [])
    delete_user(services, "alpha", a.id)
    assert [g.members for g in list_groups(services, "alpha")] == [(b.id,)]
    assert services.storage.groups.groups_of("alpha", a.id) == []
    delete_group(services, "alpha", "team")
    _field_error(NotFound, "name", delete_group, services, "alpha", "team")


def test_applications(services: Services) -> None:
    app, secret = create_application(services, "alpha", "web-app", name="Web", app_type="web",
                                     scopes=("openid", "read-data"), owners=("admin", "barbara"))
    assert app.kind == "application" and app.app_type == "web" and app.owners == ("admin", "barbara")
    assert secret and app.secret_hash and secret not in app.secret_hash
    _field_error(InvalidRequest, "client_id", create_application, services, "alpha", "bad id!", name="x")
    _field_error(InvalidRequest, "client_id", create_application, services, "alpha", "web-app", name="x")
    _field_error(InvalidRequest, "app_type", create_application, services, "alpha", "x", name="x", app_type="desktop")
    _field_error(InvalidRequest, "scopes", create_application, services, "alpha", "y", name="y", scopes=("a b",))
    _field_error(InvalidClientMetadata, "grant_types", create_application, services, "alpha", "z", name="z",
                 grant_types=("implicit",))
    changed = update_application(services, "alpha", "web-app", {"scopes": ["read-data"], "enabled": False})
    assert changed.scopes == ("read-data",) and not changed.enabled
    _field_error(InvalidRequest, "kind", update_application, services, "alpha", "web-app", {"kind": "agent"})
    _field_error(InvalidRequest, "grant_types", update_application, services, "alpha", "web-app",
                 {"grant_types": ["implicit"]})
    assert [c.client_id for c in list_applications(services, "alpha")] == ["web-app"]


def test_agents_and_overrides(services: Services) -> None:
    agent, _ = create_agent(services, "alpha", "agent-1", name="Agent", scopes=("monitor-system",),
                            overrides_enabled=True, stateless_tokens=True, accept_audience=True)
    assert agent.kind == "agent" and agent.overrides_enabled and agent.stateless_tokens and agent.accepts_audience
    services.storage.clients.update(Client(**{**{f: getattr(agent, f) for f in agent.__dataclass_fields__},
                                              "attributes": {**agent.attributes, "AgentType": ["assistant"]}}))
    updated = update_agent(services, "alpha", "agent-1", {"accept_audience": False, "name": "Renamed"})
    assert not updated.accepts_audience and updated.stateless_tokens and updated.name == "Renamed"
    assert updated.attributes["AgentType"] == ["assistant"]
    _field_error(InvalidRequest, "accept_audience", update_agent, services, "alpha", "agent-1", {"accept_audience": "yes"})
    assert not set_agent_enabled(services, "alpha", "agent-1", False).enabled
    dynamic = Client(realm="alpha", client_id="dcr-agent", kind="agent", dynamic=True)
    services.storage.clients.create(dynamic)
    assert [a.client_id for a in list_agents(services, "alpha")] == ["agent-1", "dcr-agent"]


def test_an_override_without_overrides_is_refused_or_warned_of(services: Services) -> None:
    for flag in ("stateless_tokens", "accept_audience"):  # turned on alone: refused, nothing stored
        _field_error(InvalidRequest, flag, create_agent, services, "alpha", "lone", name="L", **{flag: True})
    assert services.storage.clients.get("alpha", "lone") is None
    create_agent(services, "alpha", "agent-1", name="A")
    for flag in ("stateless_tokens", "accept_audience"):
        _field_error(InvalidRequest, flag, update_agent, services, "alpha", "agent-1", {flag: True})
    assert override_warnings(update_agent(services, "alpha", "agent-1", {
        "overrides_enabled": True, "stateless_tokens": True, "accept_audience": True})) == []
    # Overrides switched off: the flags are kept, said to do nothing, and may be sent again unchanged
    # (a form saved without edits).
    off = update_agent(services, "alpha", "agent-1", {"overrides_enabled": False})
    assert stored_flags(off) == {"overrides_enabled": False, "stateless_tokens": True, "accept_audience": True}
    assert not off.stateless_tokens and not off.accepts_audience
    assert override_warnings(off) == [
        "Use Client-Side Access & Refresh Tokens (statelessTokensEnabled) is set but does nothing: Enable OAuth2 "
        "Provider Overrides (providerOverridesEnabled) is off.",
        "Accept audience parameters in token exchange requests (acceptAudienceParametersInTokenExchangeRequests) "
        "is set but does nothing: Enable OAuth2 Provider Overrides (providerOverridesEnabled) is off."]
    again = update_agent(services, "alpha", "agent-1", {"overrides_enabled": False, "stateless_tokens": True,
                                                        "accept_audience": False})
    assert stored_flags(again)["stateless_tokens"] and len(override_warnings(again)) == 1
    lifetime = Client(realm="alpha", client_id="c", attributes={"accessTokenLifetime": ["600"]})
    assert override_warnings(lifetime) == ["Access token lifetime (accessTokenLifetime) is set but does nothing: "
                                           "Enable OAuth2 Provider Overrides (providerOverridesEnabled) is off."]


def test_policies_an_agent_cannot_use_are_named(services: Services) -> None:
    agent, _ = create_agent(services, "alpha", "agent-1", name="A")
    apps = {c.client_id: c for c in (create_application(services, "alpha", "app-1", name="App")[0],
                                     create_application(services, "alpha", "mcp", name="MCP",
                                                        resources=("https://mcp.example/",))[0])}
    realm = services.realm("alpha")
    policies = [put_policy(services, "alpha", "agent-1", "app-1"), put_policy(services, "alpha", "agent-1", "mcp")]
    assert policy_warnings(realm, agent, [], apps) == []
    # Token exchange is not enabled in the realm (its default grants): nothing can be used.
    assert policy_warnings(realm, agent, policies, apps) == [
        "This agent cannot use its application policies: the realm does not enable the Token Exchange grant."]
    update_settings(services, "alpha", {"grant_types": ["client_credentials", GRANT_TOKEN_EXCHANGE]})
    realm = services.realm("alpha")
    # Without audience parameters, only an application with a resource identifier can be named.
    assert policy_warnings(realm, agent, policies, apps) == [
        "The policy for app-1 cannot be used: the agent does not accept audience parameters in token exchange "
        "requests: it needs Enable OAuth2 Provider Overrides (providerOverridesEnabled) and Accept audience "
        "parameters in token exchange requests (acceptAudienceParametersInTokenExchangeRequests) (and the "
        "application has no resource identifier to name it by instead)."]
    accepting = update_agent(services, "alpha", "agent-1", {"overrides_enabled": True, "accept_audience": True})
    assert policy_warnings(realm, accepting, policies, apps) == []
    apps["app-1"] = update_application(services, "alpha", "app-1", {"enabled": False})
    assert policy_warnings(realm, accepting, policies, apps) == [
        "The policy for app-1 cannot be used: the application is disabled."]
    no_grant = update_agent(services, "alpha", "agent-1", {"grant_types": ["client_credentials"]})
    assert policy_warnings(realm, no_grant, policies, apps) == [
        "This agent cannot use its application policies: the agent does not have the Token Exchange grant."]


def test_policies(services: Services) -> None:
    create_agent(services, "alpha", "agent-1", name="A")
    create_application(services, "alpha", "app-1", name="App", scopes=("read",))
    user = create_user(services, "alpha", "barbara", "pw")
    put_group(services, "alpha", "team", [])
    policy = put_policy(services, "alpha", "agent-1", "app-1", subjects=("barbara",), subject_groups=("team",),
                        permissions=("read", "custom"))
    assert policy.subjects == (user.id,) and policy.subject_groups == ("team",) and policy.permissions == ("read", "custom")
    assert list_policies(services, "alpha", "agent-1") == [policy]
    _field_error(NotFound, "agent_id", put_policy, services, "alpha", "app-1", "app-1")
    _field_error(InvalidRequest, "application_id", put_policy, services, "alpha", "agent-1", "agent-1")
    _field_error(InvalidRequest, "application_id", put_policy, services, "alpha", "agent-1", "missing")
    _field_error(InvalidRequest, "subjects", put_policy, services, "alpha", "agent-1", "app-1", subjects=("ghost",))
    _field_error(InvalidRequest, "subject_groups", put_policy, services, "alpha", "agent-1", "app-1",
                 subject_groups=("ghosts",))
    _field_error(InvalidRequest, "permissions", put_policy, services, "alpha", "agent-1", "app-1", permissions=("a\\b",))
    delete_policy(services, "alpha", "agent-1", "app-1")
    _field_error(NotFound, "application_id", delete_policy, services, "alpha", "agent-1", "app-1")


def test_deleting_an_agent_or_application_drops_its_policies(services: Services) -> None:
    for agent in ("agent-1", "agent-2"):
        create_agent(services, "alpha", agent, name=agent)
    for app in ("app-1", "app-2"):
        create_application(services, "alpha", app, name=app)
    for agent in ("agent-1", "agent-2"):
        for app in ("app-1", "app-2"):
            put_policy(services, "alpha", agent, app)
    delete_application(services, "alpha", "app-1")
    assert [p.application_id for p in services.storage.policies.for_agent("alpha", "agent-2")] == ["app-2"]
    delete_agent(services, "alpha", "agent-1")
    assert services.storage.policies.for_agent("alpha", "agent-1") == []
    # A re-created agent with the same id does not inherit the old policies.
    create_agent(services, "alpha", "agent-1", name="again")
    assert list_policies(services, "alpha", "agent-1") == []


def test_deleted_users_and_groups_leave_policies(services: Services) -> None:
    create_agent(services, "alpha", "agent-1", name="A")
    create_application(services, "alpha", "app-1", name="App")
    a = create_user(services, "alpha", "a", "pw")
    b = create_user(services, "alpha", "b", "pw")
    put_group(services, "alpha", "team", ["a"])
    put_group(services, "alpha", "other", [])
    put_policy(services, "alpha", "agent-1", "app-1", subjects=("a", "b"), subject_groups=("team", "other"))
    delete_user(services, "alpha", a.id)
    delete_group(services, "alpha", "team")
    [policy] = list_policies(services, "alpha", "agent-1")
    assert policy.subjects == (b.id,) and policy.subject_groups == ("other",)
    # A new group with the old name, or a new user with the old id, gains nothing.
    put_group(services, "alpha", "team", ["b"])
    create_user(services, "alpha", "a2", "pw", user_id=a.id)
    [policy] = list_policies(services, "alpha", "agent-1")
    assert policy.subjects == (b.id,) and policy.subject_groups == ("other",)


def test_weak_secret_is_refused_naming_the_field(services: Services) -> None:
    create_application(services, "alpha", "app-1", name="App")
    create_agent(services, "alpha", "agent-1", name="A")
    _field_error(InvalidRequest, "client_secret", update_application, services, "alpha", "app-1", {"secret": "short"})
    _field_error(InvalidRequest, "client_secret", update_agent, services, "alpha", "agent-1", {"secret": "short"})
    _field_error(InvalidRequest, "client_secret", create_agent, services, "alpha", "agent-2", name="B", secret="short")
    updated = update_agent(services, "alpha", "agent-1", {"secret": "a-long-enough-secret-123"})
    assert services.hasher.verify("a-long-enough-secret-123", updated.secret_hash)
