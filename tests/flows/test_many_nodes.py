"""Many nodes: real `credo serve` processes on different ports over one PostgreSQL database, behind one
public URL (as a load balancer would present them). What one node does is honoured by the others on their
next request (revocation, disabling a client, key rotation), and what must hold once holds across all of
them (throttles, the registration rate limit, initial access tokens, codes) - with the ephemeral state in
the database, and (throttle, rate limit) with it in Redis.

The servers are started once per module; each test uses its own clients or realm. The test process sets
up the data through the management use cases on the same database (as an administrator's tool would)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import redis

from credo.app import build_services
from credo.management.admins import create_admin
from credo.management.clients import create_client
from credo.management.realms import ensure_realm, update_settings
from credo.oauth.services import Services
from credo.settings import Settings
from credo.storage.sql.engine import make_engine
from credo.storage.sql.migrate import upgrade
from credo.storage.sql.store import SqlStorage
from tests.conftest import PG_SKIP
from tests.factories import APP_SECRET, USERNAME, assert_oauth_error, client_credentials, demo_secrets, iat_client
from tests.procs import ServerProcess, credo_server
from tests.signin import browser_client, enable_code_flow, obtain_code, pkce, profile_user, redeem
from tests.support import (
    MASTER_KEY,
    REDIS_URL,
    free_port,
    postgres_database,
    redis_prefix,
    redis_reachable,
    remove_redis_keys,
)

pytestmark = [pytest.mark.postgres, pytest.mark.skipif(PG_SKIP is not None, reason=PG_SKIP or "")]
REDIS_SKIP = redis_reachable()
ADMIN_PASSWORD = "ops-password-" + "x" * 12


@dataclass
class Nodes:
    servers: list[ServerProcess]
    services: Services  # the administrator's tool on the same database
    admin_token: str
    public: str
    redis_prefix: str | None = None  # the nodes' CREDO_EPHEMERAL_PREFIX when they keep it in Redis

    def browser(self, i: int) -> httpx.Client:
        """A browser whose requests to the public URL (the pages' links and forms) reach node i, as a load
        balancer with sticky sessions would send them."""
        node = httpx.URL(self.servers[i].base_url)

        def to_node(request: httpx.Request) -> None:
            if str(request.url).startswith(self.public):
                request.url = request.url.copy_with(host=node.host, port=node.port)
        return httpx.Client(timeout=10, event_hooks={"request": [to_node]})

    def realm_url(self, i: int, realm: str = "alpha") -> str:
        return self.servers[i].realm_url(realm)

    def admin(self, i: int) -> str:
        return self.servers[i].base_url + "/admin/api"


def _start(stack: ExitStack, tmp: Path, count: int, **env: str) -> Nodes:
    """A fresh PostgreSQL database with the demo realm, an administrator, and `count` servers on it."""
    url = stack.enter_context(postgres_database())
    public = f"http://127.0.0.1:{free_port()}"  # the address clients know; each node also answers on its own
    engine = make_engine(url)
    upgrade(engine)
    storage = SqlStorage(engine)
    stack.callback(storage.close)
    services = build_services(Settings(database_url=url, master_key=MASTER_KEY, data_dir=tmp), storage, base_url=public)
    demo_secrets(services)
    create_admin(services, "ops", ADMIN_PASSWORD)
    servers = []
    for i in range(count):
        data_dir = tmp / f"node-{i}"
        data_dir.mkdir()
        servers.append(stack.enter_context(credo_server(
            data_dir, CREDO_DATABASE_URL=url, CREDO_PUBLIC_URL=public, CREDO_AUTH_FAILURE_SYNC_INTERVAL="0", **env)))
    r = httpx.post(servers[0].base_url + "/admin/api/token", json={"username": "ops", "password": ADMIN_PASSWORD})
    assert r.status_code == 200, r.text
    return Nodes(servers, services, r.json()["access_token"], public, env.get("CREDO_EPHEMERAL_PREFIX"))


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nodes]:
    """Three nodes; the ephemeral state in the database (the default)."""
    with ExitStack() as stack:
        yield _start(stack, tmp_path_factory.mktemp("nodes"), 3)


@pytest.fixture(scope="module")
def redis_nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nodes]:
    """Two nodes with the ephemeral state in Redis (CREDO_EPHEMERAL_URL), under a prefix of their own."""
    if REDIS_SKIP is not None:
        pytest.skip(REDIS_SKIP)
    prefix = redis_prefix()
    with ExitStack() as stack:
        stack.callback(remove_redis_keys, prefix)
        yield _start(stack, tmp_path_factory.mktemp("redis-nodes"), 2, CREDO_EPHEMERAL_URL=REDIS_URL,
                     CREDO_EPHEMERAL_PREFIX=prefix)


@pytest.fixture(params=["nodes", "redis_nodes"], ids=["database", "redis"])
def any_nodes(request: pytest.FixtureRequest) -> Nodes:
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


STATELESS = {"providerOverridesEnabled": ["true"], "statelessTokensEnabled": ["true"]}  # signed JWTs


def _client(nodes: Nodes, *, stateless: bool = False) -> tuple[str, str]:
    client_id = f"c-{uuid.uuid4().hex[:8]}"
    _, secret = create_client(nodes.services, "alpha", client_id, scopes=("data-read",),
                              attributes=STATELESS if stateless else None)
    assert secret is not None
    return client_id, secret


def _token(nodes: Nodes, i: int, client_id: str, secret: str) -> str:
    with httpx.Client(timeout=10) as http:
        r = client_credentials(http, nodes.realm_url(i), client_id, secret)
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def _introspect(nodes: Nodes, i: int, token: str, client_id: str, secret: str) -> dict[str, Any]:
    r = httpx.post(nodes.realm_url(i) + "/introspect",
                   data={"token": token, "client_id": client_id, "client_secret": secret}, timeout=10)
    assert r.status_code == 200, r.text
    return dict(r.json())


# --- what one node changes, the others honour on their next request --------------------------------------

@pytest.mark.parametrize("stateless", [False, True], ids=["opaque", "jwt"])
def test_a_revocation_through_one_node_is_honoured_by_the_others(nodes: Nodes, stateless: bool) -> None:
    client_id, secret = _client(nodes, stateless=stateless)
    token = _token(nodes, 0, client_id, secret)
    assert all(_introspect(nodes, i, token, client_id, secret)["active"] is True for i in (1, 2))  # B, C know it
    r = httpx.post(nodes.realm_url(0) + "/token/revoke",
                   data={"token": token, "client_id": client_id, "client_secret": secret})
    assert r.status_code == 200, r.text
    assert _introspect(nodes, 1, token, client_id, secret) == {"active": False}
    assert _introspect(nodes, 2, token, client_id, secret) == {"active": False}


def test_a_client_disabled_through_the_admin_api_of_one_node_is_refused_by_the_others(nodes: Nodes) -> None:
    auth = {"Authorization": f"Bearer {nodes.admin_token}"}
    client_id = f"app-{uuid.uuid4().hex[:8]}"
    r = httpx.post(nodes.admin(0) + "/realms/alpha/applications", headers=auth,
                   json={"client_id": client_id, "grant_types": ["client_credentials"], "scopes": ["data-read"]})
    assert r.status_code == 201, r.text
    secret = r.json()["client_secret"]
    token = _token(nodes, 1, client_id, secret)  # created through A, usable at once through B
    assert _introspect(nodes, 2, token, client_id, secret)["active"] is True
    r = httpx.patch(nodes.admin(0) + f"/realms/alpha/applications/{client_id}", headers=auth, json={"enabled": False})
    assert r.status_code == 200, r.text
    with httpx.Client(timeout=10) as http:
        for i in (1, 2):
            assert_oauth_error(client_credentials(http, nodes.realm_url(i), client_id, secret), 401, "invalid_client")
    other_id, other_secret = _client(nodes)
    assert _introspect(nodes, 1, token, other_id, other_secret) == {"active": False}  # its tokens are dead too


def _kid(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


def test_a_key_rotation_through_one_node_is_honoured_by_the_others(nodes: Nodes) -> None:
    client_id, secret = _client(nodes, stateless=True)
    old_token = _token(nodes, 1, client_id, secret)
    old_kid = _kid(old_token)
    assert _introspect(nodes, 1, old_token, client_id, secret)["active"] is True  # B has the old key loaded
    r = httpx.post(nodes.admin(0) + "/realms/alpha/keys/rotate", headers={"Authorization": f"Bearer {nodes.admin_token}"})
    assert r.status_code in (200, 201), r.text
    new_kid = r.json()["kid"]
    assert new_kid != old_kid
    # A token A signs with the new key verifies on B; B and C sign with the new key too (the retired one
    # stopped signing everywhere), and the retired key still verifies what it signed while it is published.
    new_token = _token(nodes, 0, client_id, secret)
    assert _kid(new_token) == new_kid
    assert _introspect(nodes, 1, new_token, client_id, secret)["active"] is True
    assert _kid(_token(nodes, 1, client_id, secret)) == new_kid
    assert _kid(_token(nodes, 2, client_id, secret)) == new_kid
    assert _introspect(nodes, 2, old_token, client_id, secret)["active"] is True
    # The retired key's publication ends (here: its end moved to now, as time passing would): no node
    # verifies a token it signed any more, although the token itself has not expired.
    retired = next(k for k in nodes.services.storage.keys.all("alpha") if k.kid == old_kid)
    assert retired.active is False and retired.publish_until is not None
    nodes.services.storage.keys.put(replace(retired, publish_until=nodes.services.clock.now()))
    for i in (0, 1, 2):
        assert _introspect(nodes, i, old_token, client_id, secret) == {"active": False}
        assert _introspect(nodes, i, new_token, client_id, secret)["active"] is True


# --- what holds once holds across every node ----------------------------------------------------------------

THROTTLED = {"error": "too_many_requests", "error_description": "Too many requests; retry later."}


def test_a_throttle_tripped_through_one_node_refuses_on_the_others(any_nodes: Nodes) -> None:
    client_id, secret = _client(any_nodes)
    wrong = "wrong-" + "x" * 20
    with httpx.Client(timeout=10) as http:
        assert client_credentials(http, any_nodes.realm_url(1), client_id, secret).status_code == 200
        for _ in range(10):  # CREDO_AUTH_FAILURE_LIMIT's default, all through A
            assert_oauth_error(client_credentials(http, any_nodes.realm_url(0), client_id, wrong), 401, "invalid_client")
        r = client_credentials(http, any_nodes.realm_url(1), client_id, secret)  # B: the right secret, refused
        assert r.status_code == 429 and r.json() == THROTTLED, r.text
        assert 1 <= int(r.headers["retry-after"]) <= 60


def test_with_the_redis_setting_the_ephemeral_state_is_in_redis_only(redis_nodes: Nodes) -> None:
    client_id, _ = _client(redis_nodes)
    before = redis_nodes.services.storage.ephemeral.newer(0, redis_nodes.services.clock.now(), 1000)
    with httpx.Client(timeout=10) as http:
        assert_oauth_error(client_credentials(http, redis_nodes.realm_url(0), client_id, "wrong-" + "x" * 20),
                           401, "invalid_client")
    assert redis_nodes.services.storage.ephemeral.newer(0, redis_nodes.services.clock.now(), 1000) == before
    client = redis.Redis.from_url(REDIS_URL)
    try:
        assert client.zcard(f"{redis_nodes.redis_prefix}feed") >= 1  # the failure went to Redis
    finally:
        client.close()


def test_the_registration_rate_limit_counts_across_nodes(any_nodes: Nodes) -> None:
    realm = f"rate-{uuid.uuid4().hex[:6]}"
    ensure_realm(any_nodes.services, realm)
    update_settings(any_nodes.services, realm, {"allow_open_registration": True,
                                                "protection": {"policy": {"rate_limit_per_minute": 4}}})
    n = len(any_nodes.servers)
    answers = []
    with httpx.Client(timeout=10) as http:
        for i in range(6):  # round robin over the nodes
            r = http.post(any_nodes.realm_url(i % n, realm) + "/register", json={"client_name": f"app {i}"})
            answers.append(r.status_code)
            if r.status_code == 429:
                assert r.json()["error"] == "too_many_requests" and 1 <= int(r.headers["retry-after"]) <= 60
    assert answers == [201, 201, 201, 201, 429, 429]  # four in all, not four per node


def test_an_initial_access_token_registers_once_across_nodes(nodes: Nodes) -> None:
    update_settings(nodes.services, "alpha", {"allow_open_registration": False})
    try:
        client_id, secret = iat_client(nodes.services)
        with httpx.Client(timeout=10) as http:
            r = client_credentials(http, nodes.realm_url(0), client_id, secret, scope="dcr_register")
            assert r.status_code == 200, r.text
            iat = r.json()["access_token"]
        answers: list[int] = []
        start = threading.Barrier(6)

        def register(i: int) -> None:
            start.wait()
            answers.append(httpx.post(nodes.realm_url(i % 3) + "/register", json={"client_name": f"agent {i}"},
                                      headers={"Authorization": f"Bearer {iat}"}, timeout=10).status_code)
        threads = [threading.Thread(target=register, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(answers) == [201, 401, 401, 401, 401, 401]
        r = httpx.post(nodes.realm_url(2) + "/register", json={"client_name": "late"},
                       headers={"Authorization": f"Bearer {iat}"}, timeout=10)
        assert r.status_code == 401
    finally:
        update_settings(nodes.services, "alpha", {"allow_open_registration": True})


def test_a_code_is_redeemed_once_across_nodes(nodes: Nodes) -> None:
    enable_code_flow(nodes.services)
    client_id = f"web-{uuid.uuid4().hex[:6]}"
    browser_client(nodes.services, "alpha", client_id, public=False, secret=APP_SECRET)
    if nodes.services.storage.users.by_username("alpha", USERNAME) is None:
        profile_user(nodes.services)
    challenge = pkce()
    with nodes.browser(0) as browser:
        code = obtain_code(browser, nodes.realm_url(0), client_id, challenge=challenge)["code"]  # through A
    answers: list[httpx.Response] = []
    start = threading.Barrier(3)

    def redeem_at(i: int) -> None:
        with httpx.Client(timeout=10) as http:
            start.wait()
            answers.append(redeem(http, nodes.realm_url(i), code, challenge, client_id, client_secret=APP_SECRET))
    threads = [threading.Thread(target=redeem_at, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.status_code for r in answers) == [200, 400, 400], [r.text for r in answers]
    assert all(r.json()["error"] == "invalid_grant" for r in answers if r.status_code == 400)
