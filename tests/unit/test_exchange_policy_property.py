"""Properties of the token-exchange decision: whatever the policies, users, groups and requests, a
granted token carries only scopes the policy allows, for a subject the policy allows, acted by the
calling agent; and a grant happens exactly when an independent statement of the rules says it should."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from credo.domain.errors import OAuthError
from credo.domain.models import ApplicationPolicy
from credo.domain.settings import GRANT_TOKEN_EXCHANGE
from credo.management.agents import create_agent, put_policy
from credo.management.applications import create_application
from credo.management.demo import DEMO_SETTINGS
from credo.management.groups import put_group
from credo.management.realms import ensure_realm
from credo.management.users import create_user
from credo.oauth.exchange_policy import ExchangeFacts, Subject, Target, actor_chain, decide
from credo.oauth.grants.refresh_token import issue_refresh_token
from credo.oauth.grants.registry import default_handlers
from credo.oauth.token_endpoint import TokenEndpoint, TokenRequest
from credo.oauth.tokens import issue_access_token, read_access_token
from credo.storage.memory import MemoryStorage
from credo.storage.unit_of_work import UnitOfWork
from tests.support import run_async, services_for

AGENT = "agent-a"
SCOPES = ["a", "b", "c", "d"]
USERS = ["u1", "u2", "u3"]
GROUPS = ["g1", "g2"]
subsets = st.lists(st.sampled_from(SCOPES), unique=True)


def often(value: Any, *others: Any) -> Any:
    """A strategy that mostly yields `value`, so that every rule gets exercised, not just the first."""
    return st.sampled_from([value, value, value, *others])


@st.composite
def chains(draw: Any) -> dict[str, Any] | None:
    act: dict[str, Any] | None = None
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 1, 2, 3, 4]))):
        sub = draw(st.sampled_from([AGENT, "agent-b", "agent-c"]))
        act = {"sub": sub} if act is None else {"sub": sub, "act": act}
    return act


@st.composite
def facts(draw: Any) -> ExchangeFacts:
    membership = {g: tuple(draw(st.lists(st.sampled_from(USERS), unique=True))) for g in GROUPS}
    kind = draw(st.sampled_from(["self", "user", "user", "other-agent"]))
    user = draw(st.sampled_from(USERS))
    may_act = draw(often(None, {"sub": AGENT}, {"client_id": AGENT}, {"sub": "zz"}, {"client_id": "x"}, "agent-a"))
    if kind == "user":
        subject = Subject(sub=user, client_id=draw(st.sampled_from(["app", AGENT])), is_user=True, act=draw(chains()),
                          may_act=may_act, user_active=draw(often(True, False)),
                          user_groups=tuple(g for g, members in membership.items() if user in members))
    else:
        who = AGENT if kind == "self" else "agent-b"
        subject = Subject(sub=who, client_id=draw(often(who, AGENT, "agent-b")), is_user=False,
                          act=draw(chains()), may_act=may_act)
    target = None if draw(st.integers(0, 9)) == 0 else Target(
        client_id="app", kind=draw(often("application", "agent", "client")), enabled=draw(often(True, False)),
        scopes=tuple(draw(subsets)))
    policy = None if draw(st.integers(0, 9)) == 0 else ApplicationPolicy(
        realm="alpha", agent_id=draw(often(AGENT, "agent-b")), application_id=draw(often("app", "other")),
        subjects=tuple(draw(st.lists(st.sampled_from(USERS), unique=True))),
        subject_groups=tuple(draw(st.lists(st.sampled_from(GROUPS), unique=True))),
        permissions=tuple(draw(st.lists(st.sampled_from([*SCOPES, "custom"]), unique=True))))
    allowed = (policy.permissions or target.scopes) if policy and target else ()
    pool = list(allowed) if allowed and draw(st.booleans()) else [*SCOPES, "custom", "z"]
    requested = tuple(draw(st.lists(st.sampled_from(pool), unique=True)))
    return ExchangeFacts(agent_id=AGENT, subject=subject, target=target, policy=policy, requested_scopes=requested,
                         max_depth=draw(st.integers(1, 4)))


def should_grant(f: ExchangeFacts) -> bool:
    """The rules, stated once more independently of the implementation's order."""
    s, t, p = f.subject, f.target, f.policy
    may_act_ok = s.may_act is None or s.may_act in ({"sub": AGENT}, {"client_id": AGENT})
    depth_ok = 1 + len(actor_chain(s.act)) <= f.max_depth
    target_ok = t is not None and t.kind == "application" and t.enabled
    policy_ok = p is not None and t is not None and (p.agent_id, p.application_id) == (AGENT, t.client_id)
    if s.is_user:
        subject_ok = s.user_active and p is not None and (
            s.sub in p.subjects or any(g in p.subject_groups for g in s.user_groups))
    else:
        subject_ok = s.sub == AGENT and s.client_id == AGENT
    allowed = (p.permissions or t.scopes) if (p is not None and t is not None) else ()
    scope_ok = all(x in allowed for x in f.requested_scopes) and bool(f.requested_scopes or allowed)
    return may_act_ok and depth_ok and target_ok and policy_ok and subject_ok and scope_ok


@settings(max_examples=1500, deadline=None)
@given(facts())
def test_decision_never_exceeds_the_policy(f: ExchangeFacts) -> None:
    try:
        d = decide(f)
    except OAuthError as exc:
        assert not should_grant(f), f"refused ({exc.error}: {exc.detail}) but the rules allow it"
        assert exc.error in ("invalid_grant", "invalid_target", "access_denied", "invalid_scope")
        return
    assert should_grant(f)
    assert f.policy is not None and f.target is not None
    allowed = f.policy.permissions or f.target.scopes
    assert d.scopes and set(d.scopes) <= set(allowed)
    assert set(d.scopes) == set(f.requested_scopes or allowed)
    assert d.sub == f.subject.sub and d.user == f.subject.is_user
    if f.subject.is_user:
        assert f.subject.sub in f.policy.subjects or set(f.subject.user_groups) & set(f.policy.subject_groups)
    else:
        assert d.sub == AGENT
    assert d.act["sub"] == AGENT and d.act.get("act") == f.subject.act
    assert len(actor_chain(d.act)) <= f.max_depth
    assert d.audience == (AGENT, "app")


# --- end to end through the TokenEndpoint, on MemoryStorage ---------------------------------------


@st.composite
def worlds(draw: Any) -> dict[str, Any]:
    return {
        "app_scopes": draw(st.lists(st.sampled_from(SCOPES), unique=True, min_size=1)),
        "permissions": draw(subsets),
        "subjects": draw(st.lists(st.sampled_from(USERS), unique=True)),
        "groups": {g: draw(st.lists(st.sampled_from(USERS), unique=True)) for g in GROUPS},
        "policy_groups": draw(st.lists(st.sampled_from(GROUPS), unique=True)),
        "has_policy": draw(st.booleans()),
        "user": draw(st.sampled_from([*USERS, None])),  # None: the agent's own token
        "requested": draw(st.lists(st.sampled_from(SCOPES), unique=True)),
    }


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds())
def test_end_to_end_through_the_token_endpoint(w: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        services = services_for(MemoryStorage(), Path(tmp))
    ensure_realm(services, "alpha", DEMO_SETTINGS)
    create_application(services, "alpha", "app", name="App", scopes=tuple(w["app_scopes"]))
    _, secret = create_agent(services, "alpha", AGENT, name="A", overrides_enabled=True, accept_audience=True,
                             grant_types=("client_credentials", GRANT_TOKEN_EXCHANGE))
    ids = {u: create_user(services, "alpha", u, f"password-{u}").id for u in USERS}
    for g, members in w["groups"].items():
        put_group(services, "alpha", g, members)
    if w["has_policy"]:
        put_policy(services, "alpha", AGENT, "app", subjects=tuple(w["subjects"]),
                   subject_groups=tuple(w["policy_groups"]), permissions=tuple(w["permissions"]))
    realm = services.realm("alpha")
    app_client, agent_client = services.client("alpha", "app"), services.client("alpha", AGENT)
    assert app_client is not None and agent_client is not None
    user = w["user"]
    issued = UnitOfWork()
    subject = asyncio.run(issue_access_token(services, realm, app_client if user else agent_client,
                                             sub=ids[user] if user else AGENT, scopes=(), grant_type="password",
                                             user=bool(user), work=issued))
    services.commit_now(issued)
    endpoint = TokenEndpoint(services, default_handlers(), refresh_issuer=issue_refresh_token)
    params = {"grant_type": GRANT_TOKEN_EXCHANGE, "client_id": AGENT, "client_secret": secret or "",
              "subject_token": subject.token.value, "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
              "audience": "app", "scope": " ".join(w["requested"])}
    allowed = tuple(w["permissions"]) or tuple(w["app_scopes"])
    in_policy = user is None or user in w["subjects"] or any(user in w["groups"][g] for g in w["policy_groups"])
    expected = w["has_policy"] and in_policy and set(w["requested"]) <= set(allowed)
    try:
        body = run_async(endpoint.handle(TokenRequest(realm=realm, params=params)))
    except OAuthError as exc:
        assert not expected, f"refused: {exc.error} {exc.detail}"
        events = services.storage.audit.query("alpha", action="token_exchange", decision="deny")
        assert len(events) == 1 and events[0].reason.startswith(exc.error)
        return
    assert expected
    token = read_access_token(services, realm, body["access_token"])
    assert token is not None
    assert set(token.scopes) <= set(allowed) and set(token.scopes) == set(w["requested"] or allowed)
    assert token.sub == (ids[user] if user else AGENT) and token.act == {"sub": AGENT}
    assert token.audience == (AGENT, "app") and token.client_id == AGENT


# --- no input makes the grants fail with anything but an RFC error -------------------------------

@pytest.fixture(scope="module")
def fuzz_world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One realm for every generated input of the test below (each input only reads it or adds tokens)."""
    services = services_for(MemoryStorage(), tmp_path_factory.mktemp("fuzz-world"))
    ensure_realm(services, "alpha", DEMO_SETTINGS)
    create_application(services, "alpha", "app", name="App", scopes=("a", "b"),
                       grant_types=("client_credentials", "password", "refresh_token"), secret="app-secret-0123456789")
    create_agent(services, "alpha", AGENT, name="A", overrides_enabled=True, accept_audience=True,
                 secret="agent-secret-0123456789")
    user = create_user(services, "alpha", "u1", "password-u1")
    put_policy(services, "alpha", AGENT, "app", subjects=(user.id,))
    realm = services.realm("alpha")
    app_client = services.client("alpha", "app")
    assert app_client is not None
    issued = UnitOfWork()
    token = asyncio.run(issue_access_token(services, realm, app_client, sub=user.id, scopes=("a",),
                                           grant_type="password", user=True, work=issued)).token.value
    services.commit_now(issued)
    return {"services": services, "realm": realm, "token": token,
            "endpoint": TokenEndpoint(services, default_handlers(), refresh_issuer=issue_refresh_token)}


KEYS = ["grant_type", "subject_token", "subject_token_type", "actor_token", "actor_token_type", "audience",
        "resource", "scope", "requested_token_type", "username", "password", "refresh_token"]
VALUES = st.one_of(st.text(max_size=40), st.sampled_from([
    GRANT_TOKEN_EXCHANGE, "password", "refresh_token", "urn:ietf:params:oauth:token-type:access_token",
    "urn:ietf:params:oauth:token-type:jwt", "app", AGENT, "a b", "u1", "password-u1", "TOKEN", "a.b.c", "x" * 9000]))


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=8), st.sampled_from([AGENT, "app"]))
def test_any_input_gets_a_token_or_an_rfc_error(fuzz_world: dict[str, Any], params: dict[str, str],
                                                caller: str) -> None:
    w = fuzz_world
    params = {k: (w["token"] if v == "TOKEN" else v) for k, v in params.items()}
    secret = "agent-secret-0123456789" if caller == AGENT else "app-secret-0123456789"
    try:
        body = run_async(w["endpoint"].decide(TokenRequest(realm=w["realm"], params={**params, "client_id": caller,
                                                                                     "client_secret": secret}),
                                              UnitOfWork()))
    except OAuthError as exc:
        assert 400 <= exc.status < 500 and exc.error != "server_error"
        return
    assert body["access_token"] and body["token_type"] == "Bearer"
