"""A subject token that was just accepted is refused on the very next exchange once something it depends
on changed. The signature check of a JWT is remembered per token string (keys/keyring.py), and records are
cached (oauth/services.py); none of that may keep a revoked, tampered, orphaned or unverifiable token alive."""

from __future__ import annotations

from dataclasses import replace

import pytest

from credo.domain.settings import GRANT_TOKEN_EXCHANGE
from credo.management.agents import create_agent, put_policy, set_agent_enabled
from credo.management.realms import update_settings
from credo.management.users import delete_user, update_user
from tests.factories import (
    AGENT_SECRET,
    AUTO_AGENT,
    AUTO_APP,
    OBO_AGENT,
    OBO_APP,
    USER_ID,
    Party,
    assert_oauth_error,
    autonomous_setup,
    cc_token,
    exchange,
    on_behalf_setup,
    user_access_token,
)
from tests.support import Server


def _accepted(srv: Server, agent: Party, subject: str, audience: str) -> str:
    with srv.client() as http:
        r = exchange(http, srv.realm_url("alpha"), agent, subject, audience)
        assert r.status_code == 200, r.text
        again = exchange(http, srv.realm_url("alpha"), agent, subject, audience)  # now from the caches
        assert again.status_code == 200, again.text
        return str(r.json()["access_token"])


def _refused(srv: Server, agent: Party, subject: str, audience: str, status: int = 400,
             error: str = "invalid_grant") -> None:
    with srv.client() as http:
        assert_oauth_error(exchange(http, srv.realm_url("alpha"), agent, subject, audience), status, error)


def _user_jwt(srv: Server, app: Party) -> str:
    update_settings(srv.services, "alpha", {"token_format": "stateless"})
    token = user_access_token(srv, app)
    assert token.count(".") == 2
    return token


@pytest.mark.parametrize("stateless", [True, False], ids=["jwt", "opaque"])
def test_revoked_subject_token(sqlite_server: Server, sqlite_demo: dict[str, str], stateless: bool) -> None:
    agent, _ = autonomous_setup(sqlite_server.services, stateless=stateless)
    base = sqlite_server.realm_url("alpha")
    with sqlite_server.client() as http:
        own = cc_token(http, base, agent)
    _accepted(sqlite_server, agent, own, AUTO_APP)
    with sqlite_server.client() as http:
        assert http.post(f"{base}/token/revoke", data={"token": own, **agent.auth}).status_code == 200
    _refused(sqlite_server, agent, own, AUTO_APP)


def test_tampered_token_with_the_same_prefix(sqlite_server: Server, sqlite_demo: dict[str, str]) -> None:
    agent, _ = autonomous_setup(sqlite_server.services)
    with sqlite_server.client() as http:
        own = cc_token(http, sqlite_server.realm_url("alpha"), agent)
    _accepted(sqlite_server, agent, own, AUTO_APP)
    head, body, sig = own.split(".")

    def flip(segment: str, at: int) -> str:
        return segment[:at] + ("B" if segment[at] != "B" else "C") + segment[at + 1:]

    for bad in (f"{head}.{body}.{flip(sig, 20)}", f"{head}.{flip(body, len(body) // 2)}.{sig}",
                f"{head}.{body}.{sig[:-2]}", f"{head}.{body}.{sig}A", f"{head}.{body}", own + ".x"):
        _refused(sqlite_server, agent, bad, AUTO_APP)
    _accepted(sqlite_server, agent, own, AUTO_APP)  # the genuine token is unaffected


def test_token_signed_by_a_rotated_out_key(sqlite_server: Server, sqlite_demo: dict[str, str]) -> None:
    s = sqlite_server.services
    agent, _ = autonomous_setup(s)
    with sqlite_server.client() as http:
        own = cc_token(http, sqlite_server.realm_url("alpha"), agent)
    _accepted(sqlite_server, agent, own, AUTO_APP)
    new = s.keys.rotate("alpha", "ES256", 600)  # the old key stops signing and is published 10 more minutes
    _accepted(sqlite_server, agent, own, AUTO_APP)  # still one of the realm's keys
    (old,) = [k for k in s.storage.keys.all("alpha") if k.kid != new.kid]
    s.storage.keys.put(replace(old, publish_until=s.clock.now()))  # its publication ends now
    _refused(sqlite_server, agent, own, AUTO_APP)  # unexpired, but its key no longer verifies
    s.keys.purge_retired("alpha")
    assert [k.kid for k in s.storage.keys.all("alpha")] == [new.kid]


def test_key_deleted_by_another_process(sqlite_server: Server, sqlite_demo: dict[str, str]) -> None:
    """The key ring of this process is not told; the change counter moved by the deletion is enough."""
    s = sqlite_server.services
    agent, _ = autonomous_setup(s)
    with sqlite_server.client() as http:
        own = cc_token(http, sqlite_server.realm_url("alpha"), agent)
    _accepted(sqlite_server, agent, own, AUTO_APP)
    old = [k for k in s.storage.keys.all("alpha") if k.active]
    s.keys.rotate("alpha", "ES256", 10**6)  # keeps the old key published (a new active key to sign with)
    _accepted(sqlite_server, agent, own, AUTO_APP)
    for key in old:
        assert s.storage.keys.delete("alpha", key.kid)  # straight in storage, as another process would
    _refused(sqlite_server, agent, own, AUTO_APP)


@pytest.mark.parametrize("change", ["inactive", "deleted"])
def test_user_disabled_or_deleted(sqlite_server: Server, sqlite_demo: dict[str, str], change: str) -> None:
    s = sqlite_server.services
    agent, app = on_behalf_setup(s)
    user_token = _user_jwt(sqlite_server, app)
    _accepted(sqlite_server, agent, user_token, OBO_APP)
    if change == "inactive":
        update_user(s, "alpha", USER_ID, active=False)
    else:
        delete_user(s, "alpha", USER_ID)
    _refused(sqlite_server, agent, user_token, OBO_APP)


def test_disabled_agent_in_the_subject_tokens_chain(sqlite_server: Server, sqlite_demo: dict[str, str]) -> None:
    s = sqlite_server.services
    agent, app = on_behalf_setup(s)
    create_agent(s, "alpha", "second-agent", name="Second", secret=AGENT_SECRET, grant_types=(GRANT_TOKEN_EXCHANGE,),
                 overrides_enabled=True, accept_audience=True)
    put_policy(s, "alpha", "second-agent", OBO_APP, subjects=(USER_ID,), permissions=("read-data",))
    second = Party("second-agent", AGENT_SECRET)
    first = _accepted(sqlite_server, agent, _user_jwt(sqlite_server, app), OBO_APP)  # act: the first agent
    # The second agent's token: its client is the second agent, and the first agent is only in its act chain
    # (neither its client_id nor one of its audiences), so only the chain can refuse it.
    chained = _accepted(sqlite_server, second, first, OBO_APP)
    _accepted(sqlite_server, second, chained, OBO_APP)
    set_agent_enabled(s, "alpha", OBO_AGENT, False)
    _refused(sqlite_server, second, first, OBO_APP)  # the first agent is this token's client
    _refused(sqlite_server, second, chained, OBO_APP)  # the first agent is in this token's act chain
    set_agent_enabled(s, "alpha", OBO_AGENT, True)
    _accepted(sqlite_server, second, first, OBO_APP)
    _accepted(sqlite_server, second, chained, OBO_APP)
    set_agent_enabled(s, "alpha", "second-agent", False)  # the caller itself
    _refused(sqlite_server, second, first, OBO_APP, 401, "invalid_client")


def test_autonomous_agent_disabled(sqlite_server: Server, sqlite_demo: dict[str, str]) -> None:
    s = sqlite_server.services
    agent, _ = autonomous_setup(s)
    with sqlite_server.client() as http:
        own = cc_token(http, sqlite_server.realm_url("alpha"), agent)
    _accepted(sqlite_server, agent, own, AUTO_APP)
    set_agent_enabled(s, "alpha", AUTO_AGENT, False)
    _refused(sqlite_server, agent, own, AUTO_APP, 401, "invalid_client")
    set_agent_enabled(s, "alpha", AUTO_AGENT, True)  # re-enabled: the same client, its token lives again
    _accepted(sqlite_server, agent, own, AUTO_APP)
