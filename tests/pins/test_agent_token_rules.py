"""Token exchange and introspection rules for agents (docs/agents.md): an actor token must be the calling
agent's own token, never a user's; an agent named anywhere in a token's `act` chain may introspect it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from credo.management.agents import create_agent, put_policy
from credo.management.applications import create_application
from credo.management.users import create_user
from credo.storage.memory import MemoryStorage
from tests.factories import (
    AGENT_SECRET,
    APP_SECRET,
    OBO_AGENT,
    OBO_APP,
    PASSWORD,
    USERNAME,
    Party,
    autonomous_setup,
    cc_token,
    exchange,
    on_behalf_setup,
    password_token,
)
from tests.pins.inprocess import ALPHA, InProcess, assert_error, in_process

ACCESS = "urn:ietf:params:oauth:token-type:access_token"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[InProcess]:
    with in_process(MemoryStorage(), tmp_path) as app:
        yield app


def _user_token(app: InProcess, web: Party, username: str = USERNAME, password: str = PASSWORD) -> str:
    r = password_token(app, ALPHA, web, username=username, password=password)  # type: ignore[arg-type]
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def _exchange(app: InProcess, agent: Party, subject: str, audience: str, **extra: str):  # type: ignore[no-untyped-def]
    return exchange(app, ALPHA, agent, subject, audience, **extra)  # type: ignore[arg-type]


def test_on_behalf_token_of_the_agent_is_no_actor_token(app: InProcess) -> None:
    agent, web = on_behalf_setup(app.services)
    user_token = _user_token(app, web)
    obo = _exchange(app, agent, user_token, OBO_APP)
    assert obo.status_code == 200, obo.text  # issued to the agent, but sub is the user: a user token
    r = _exchange(app, agent, user_token, OBO_APP, actor_token=obo.json()["access_token"], actor_token_type=ACCESS)
    assert_error(r, 400, "invalid_grant")


def test_user_token_whose_sub_is_the_agent_id_is_no_actor_token(app: InProcess) -> None:
    agent, web = on_behalf_setup(app.services)
    create_user(app.services, "alpha", "agent-namesake", "namesake-password-1", user_id=OBO_AGENT)
    put_policy(app.services, "alpha", OBO_AGENT, OBO_APP, subjects=(USERNAME, "agent-namesake"),
               permissions=("read-data",))
    namesake = _exchange(app, agent, _user_token(app, web, "agent-namesake", "namesake-password-1"), OBO_APP)
    assert namesake.status_code == 200, namesake.text  # client_id and sub are both the agent's id, yet a user's token
    r = _exchange(app, agent, _user_token(app, web), OBO_APP, actor_token=namesake.json()["access_token"],
                  actor_token_type=ACCESS)
    assert_error(r, 400, "invalid_grant")


def test_the_agents_own_token_is_an_actor_token(app: InProcess) -> None:
    agent, _ = autonomous_setup(app.services)
    own = cc_token(app, ALPHA, agent)  # type: ignore[arg-type]
    r = _exchange(app, agent, own, "access-log-api", actor_token=own, actor_token_type=ACCESS)
    assert r.status_code == 200, r.text


def test_agent_in_the_act_chain_may_introspect(app: InProcess) -> None:
    first, web = on_behalf_setup(app.services)
    second = Party("second-hop-agent", AGENT_SECRET)
    create_application(app.services, "alpha", "second-hop-app", name="Second hop", app_type="service",
                       secret=APP_SECRET, scopes=("read-data",))
    create_agent(app.services, "alpha", second.client_id, name="Second hop agent", secret=AGENT_SECRET,
                 overrides_enabled=True, stateless_tokens=True, accept_audience=True)
    put_policy(app.services, "alpha", second.client_id, "second-hop-app", subjects=(USERNAME,))
    hop1 = _exchange(app, first, _user_token(app, web), OBO_APP)
    assert hop1.status_code == 200, hop1.text
    hop2 = _exchange(app, second, hop1.json()["access_token"], "second-hop-app")
    assert hop2.status_code == 200, hop2.text
    token = hop2.json()["access_token"]

    seen = app.post(f"{ALPHA}/introspect", data={"token": token, **first.auth})  # only in the act chain
    assert seen.status_code == 200
    body = seen.json()
    assert body["active"] is True
    assert body["act"] == {"sub": second.client_id, "act": {"sub": first.client_id}}
    assert first.client_id not in body["aud"] and body["client_id"] == second.client_id
    bystander = app.post(f"{ALPHA}/introspect", data={"token": token, "client_id": "demo-client",
                                                      "client_secret": app.demo["demo-client"]})
    assert bystander.status_code == 200 and bystander.json() == {"active": False}
