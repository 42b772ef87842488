"""Two server processes on one database (as `credo serve --workers N` runs them): a change made through
one is in force at once in the other, although both cache realm and client records."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import httpx
import pytest

from credo.management.agents import delete_policy
from credo.management.clients import create_client, delete_client, set_secret, update_client
from credo.management.demo import ensure_demo
from credo.management.groups import put_group
from credo.management.realms import update_settings
from credo.management.users import update_user
from credo.storage import cached as services_module
from tests.factories import (
    USER_ID,
    admin_against_agent,
    client_credentials,
    exchange,
    on_behalf_setup,
    password_token,
)
from tests.support import Server


def _warm(http: httpx.Client, base: str, secret: str) -> str:
    """Fill B's caches (realm, client, verified signature) and return a token B considers active."""
    r = client_credentials(http, base, "bench-client", secret)
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    auth = {"client_id": "bench-client", "client_secret": secret}
    assert http.post(f"{base}/introspect", data={"token": token, **auth}).json()["active"] is True
    return str(token)


def test_disable_and_delete_take_effect_at_once_in_the_other_process(twins: tuple[Server, Server]) -> None:
    a, b = twins
    creds = {c.client_id: c.client_secret for c in ensure_demo(a.services)}
    base = b.realm_url("alpha")
    with b.client() as http:
        token = _warm(http, base, creds["bench-client"])
        other = client_credentials(http, base, "demo-client", creds["demo-client"]).json()["access_token"]

        update_client(a.services, "alpha", "bench-client", {"enabled": False})
        r = client_credentials(http, base, "bench-client", creds["bench-client"])
        assert (r.status_code, r.json()["error"]) == (401, "invalid_client")
        auth = {"client_id": "demo-client", "client_secret": creds["demo-client"]}
        assert http.post(f"{base}/introspect", data={"token": token, **auth}).json() == {"active": False}

        update_client(a.services, "alpha", "bench-client", {"enabled": True})
        assert client_credentials(http, base, "bench-client", creds["bench-client"]).status_code == 200

        delete_client(a.services, "alpha", "demo-client")
        r = client_credentials(http, base, "demo-client", creds["demo-client"])
        assert (r.status_code, r.json()["error"]) == (401, "invalid_client")
        auth = {"client_id": "bench-client", "client_secret": creds["bench-client"]}
        assert http.post(f"{base}/introspect", data={"token": other, **auth}).json() == {"active": False}


T = TypeVar("T")


def _run(work: Coroutine[object, object, T]) -> T:
    """Run a coroutine on its own event loop (a thread of its own: the test may already run inside a loop)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, work).result()


REFUSED = {"error": "invalid_client", "error_description": "Client authentication failed."}


async def _burst(server: Server, client_id: str, secret: str, n: int) -> list[int]:
    data = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret, "scope": "data-read"}
    base = server.realm_url("alpha")
    async with server.async_client() as http:
        replies = await asyncio.gather(*(http.post(f"{base}/access_token", data=data) for _ in range(n)))
    return [r.status_code for r in replies]


@pytest.mark.parametrize("clock", ["monotonic", "coarse"])
def test_a_change_is_seen_by_the_next_request_after_a_burst_of_concurrent_ones(
        twins: tuple[Server, Server], clock: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """B serves many requests at once, sharing change-counter reads among them; a client disabled through
    A right after is refused by B's next request, every time. With a clock that does not move (as coarse
    as a clock can be) no two instants differ, so no read may be shared, and the rule must still hold."""
    a, b = twins
    if clock == "coarse":
        monkeypatch.setattr(services_module, "_now", lambda: 1)
        b.services.storage.cache.clear()  # forget the instant of a read taken with the real clock at start-up
    creds = {c.client_id: c.client_secret for c in ensure_demo(a.services)}
    secret = creds["bench-client"]
    base = b.realm_url("alpha")
    with b.client() as http:
        _warm(http, base, secret)
        for _ in range(5):
            assert _run(_burst(b, "bench-client", secret, 32)) == [200] * 32
            update_client(a.services, "alpha", "bench-client", {"enabled": False})
            r = client_credentials(http, base, "bench-client", secret)
            assert (r.status_code, r.json()) == (401, REFUSED)
            update_client(a.services, "alpha", "bench-client", {"enabled": True})
            assert client_credentials(http, base, "bench-client", secret).status_code == 200


def test_a_change_committed_while_requests_are_in_flight_is_seen_by_every_later_request(
        twins: tuple[Server, Server]) -> None:
    """Requests keep arriving at B while A disables the client: no request sent after A's commit returned
    gets a token (they are refused, or throttled once the refusals pile up)."""
    a, b = twins
    creds = {c.client_id: c.client_secret for c in ensure_demo(a.services)}
    secret = creds["bench-client"]
    base = b.realm_url("alpha")
    data = {"grant_type": "client_credentials", "client_id": "bench-client", "client_secret": secret,
            "scope": "data-read"}

    async def load() -> list[tuple[float, int]]:
        async with b.async_client() as http:
            async def one() -> tuple[float, int]:
                sent = time.monotonic()
                return sent, (await http.post(f"{base}/access_token", data=data)).status_code

            async def disable_soon() -> float:
                await asyncio.sleep(0.05)
                await asyncio.to_thread(update_client, a.services, "alpha", "bench-client", {"enabled": False})
                return time.monotonic()

            waves: list[tuple[float, int]] = []
            disabled = asyncio.ensure_future(disable_soon())
            # Until enough requests were sent after the commit returned (however fast the server answers).
            while not disabled.done() or sum(sent > disabled.result() for sent, _ in waves) < 32:
                waves += await asyncio.gather(*(one() for _ in range(16)))
            committed = await disabled
            return [(sent - committed, status) for sent, status in waves]

    with b.client() as http:
        _warm(http, base, secret)
    results = _run(load())
    after = [status for offset, status in results if offset > 0]
    assert after and 200 not in after
    assert 200 in {status for offset, status in results if offset < 0}


def test_secret_rotation_and_realm_settings_take_effect_at_once(twins: tuple[Server, Server]) -> None:
    a, b = twins
    creds = {c.client_id: c.client_secret for c in ensure_demo(a.services)}
    base = b.realm_url("alpha")
    with b.client() as http:
        _warm(http, base, creds["bench-client"])
        new = set_secret(a.services, "alpha", "bench-client")
        r = client_credentials(http, base, "bench-client", creds["bench-client"])
        assert (r.status_code, r.json()["error"]) == (401, "invalid_client")
        assert client_credentials(http, base, "bench-client", new).status_code == 200

        update_settings(a.services, "alpha", {"grant_types": ["password"]})
        r = client_credentials(http, base, "bench-client", new)
        assert (r.status_code, r.json()["error"]) == (400, "unsupported_grant_type")


def test_revocation_in_one_process_is_seen_by_the_other(twins: tuple[Server, Server]) -> None:
    a, b = twins
    creds = {c.client_id: c.client_secret for c in ensure_demo(a.services)}
    update_settings(a.services, "alpha", {"issuer": "https://id.example.test/alpha"})  # one public URL for both
    auth = {"client_id": "bench-client", "client_secret": creds["bench-client"]}
    with b.client() as hb, a.client() as ha:
        token = _warm(hb, b.realm_url("alpha"), creds["bench-client"])
        assert ha.post(f"{a.realm_url('alpha')}/token/revoke", data={"token": token, **auth}).status_code == 200
        assert hb.post(f"{b.realm_url('alpha')}/introspect", data={"token": token, **auth}).json() == {"active": False}


@pytest.mark.parametrize("clock", ["monotonic", "coarse"])
def test_a_revocation_is_seen_by_the_next_introspection_after_a_burst_of_cached_ones(
        twins: tuple[Server, Server], clock: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """B answers "not revoked" from its cache of burned ids (its burst of introspections reads nothing but
    the shared counters); a token revoked through A is inactive at B's very next introspection, every
    time, and B's other tokens stay active. With a clock that never moves no counter read is shared."""
    a, b = twins
    if clock == "coarse":
        monkeypatch.setattr(services_module, "_now", lambda: 1)
        b.services.storage.cache.clear()
    creds = {c.client_id: c.client_secret for c in ensure_demo(a.services)}
    update_settings(a.services, "alpha", {"issuer": "https://id.example.test/alpha"})  # one public URL for both
    secret = creds["bench-client"]
    auth = {"client_id": "bench-client", "client_secret": secret}
    base = b.realm_url("alpha")

    async def introspections(token: str, n: int) -> list[bool]:
        async with b.async_client() as http:
            replies = await asyncio.gather(*(http.post(f"{base}/introspect", data={"token": token, **auth})
                                             for _ in range(n)))
        return [r.json()["active"] for r in replies]

    with b.client() as hb, a.client() as ha:
        keep = _warm(hb, base, secret)
        for _ in range(5):
            token = _warm(hb, base, secret)
            assert _run(introspections(token, 32)) == [True] * 32
            assert ha.post(f"{a.realm_url('alpha')}/token/revoke", data={"token": token, **auth}).status_code == 200
            assert hb.post(f"{base}/introspect", data={"token": token, **auth}).json() == {"active": False}
            assert hb.post(f"{base}/introspect", data={"token": keep, **auth}).json()["active"] is True


OBO = "digital-assistant-web-app"


def test_user_group_and_policy_changes_reach_the_other_process_exchange(twins: tuple[Server, Server]) -> None:
    """Users, group memberships and policies are cached too: a change through A is in force in B's
    next token exchange."""
    a, b = twins
    ensure_demo(a.services)
    put_group(a.services, "alpha", "assistants", [])
    agent, app = on_behalf_setup(a.services, subjects=(), groups=("assistants",))
    put_group(a.services, "alpha", "assistants", [USER_ID])
    base = b.realm_url("alpha")
    with b.client() as http:
        user_token = password_token(http, base, app, scope="read-data").json()["access_token"]
        assert exchange(http, base, agent, user_token, OBO, "read-data").status_code == 200  # B's caches warm

        put_group(a.services, "alpha", "assistants", [])
        r = exchange(http, base, agent, user_token, OBO, "read-data")
        assert (r.status_code, r.json()["error"]) == (403, "access_denied")
        put_group(a.services, "alpha", "assistants", [USER_ID])
        assert exchange(http, base, agent, user_token, OBO, "read-data").status_code == 200

        update_user(a.services, "alpha", USER_ID, active=False)
        r = exchange(http, base, agent, user_token, OBO, "read-data")
        assert (r.status_code, r.json()["error"]) == (400, "invalid_grant")
        update_user(a.services, "alpha", USER_ID, active=True)
        assert exchange(http, base, agent, user_token, OBO, "read-data").status_code == 200

        delete_policy(a.services, "alpha", agent.client_id, OBO)
        r = exchange(http, base, agent, user_token, OBO, "read-data")
        assert (r.status_code, r.json()["error"]) == (400, "invalid_target")


REGISTRATION = {"grant_types": ["client_credentials"], "response_types": ["token"], "scopes": ["data-read"],
                "redirect_uris": ["https://example.com/callback"], "client_name": "Late Client",
                "token_endpoint_auth_method": "client_secret_post"}


def test_a_client_registered_through_one_process_works_at_once_through_the_other(
        twins: tuple[Server, Server]) -> None:
    """A registration drops no cache entry and moves no change counter, yet the new client works in the
    other process on its very next request (unknown client ids are never cached)."""
    a, b = twins
    creds = {c.client_id: c.client_secret for c in ensure_demo(a.services)}
    base = b.realm_url("alpha")
    with a.client() as ha, b.client() as hb:
        _warm(hb, base, creds["bench-client"])
        counter = b.services.storage.change_counter()
        r = ha.post(f"{a.realm_url('alpha')}/register", json=REGISTRATION)
        assert r.status_code == 201, r.text
        new = r.json()
        assert b.services.storage.change_counter() == counter
        token = client_credentials(hb, base, new["client_id"], new["client_secret"])
        assert token.status_code == 200, token.text
        auth = {"client_id": new["client_id"], "client_secret": new["client_secret"]}
        assert hb.post(f"{base}/introspect", data={"token": token.json()["access_token"], **auth}).json()["active"]
        read = hb.get(f"{base}/register/{new['client_id']}",
                      headers={"authorization": f"Bearer {new['registration_access_token']}"})
        assert read.status_code == 200 and read.json()["client_id"] == new["client_id"]


def test_an_unknown_client_id_works_as_soon_as_it_is_created(twins: tuple[Server, Server]) -> None:
    """B refused an id it did not know; created through A (or through B itself), it works in B at once."""
    a, b = twins
    ensure_demo(a.services)
    base = b.realm_url("alpha")
    with b.client() as http:
        for creator, client_id in ((a, "late-through-a"), (b, "late-through-b")):
            r = client_credentials(http, base, client_id, "s" * 40)
            assert (r.status_code, r.json()["error"]) == (401, "invalid_client")
            _, secret = create_client(creator.services, "alpha", client_id, scopes=("data-read",))
            assert secret is not None
            assert client_credentials(http, base, client_id, secret).status_code == 200


def test_an_administrators_change_in_one_process_survives_the_agent_in_the_other(twins: tuple[Server, Server]) -> None:
    """The administrator works through A while the agent hammers RFC 7592 on B (each with its caches)."""
    a, b = twins
    ensure_demo(a.services)
    admin_against_agent(a.services, b, rounds=30)
