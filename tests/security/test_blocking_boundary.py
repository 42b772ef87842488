"""Work that can block (a slow DCR script, argon2 for passwords and human-chosen client secrets, a slow
jwks_uri) runs behind the one thread-pool boundary: while each is being abused by anonymous callers,
a discovery request and a client-credentials request in another realm are answered within 100 ms of
their unloaded latency. In process, on one event loop, as the server runs them."""

from __future__ import annotations

import asyncio
import http.server
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from credo.app import build_app
from credo.keys.remote_jwks import RemoteJwks
from credo.management.applications import create_application
from credo.management.clients import create_client
from credo.management.demo import ensure_demo
from credo.management.realms import update_settings
from credo.management.scripts import create_script, select_realm_script
from credo.management.users import create_user
from tests import support
from tests.factories import SEED_BODY, Signer

ALPHA = "/am/oauth2/realms/root/realms/alpha"
BRAVO = "/am/oauth2/realms/root/realms/bravo"
SLOW_SCRIPT = "var t = Date.now(); while (Date.now() - t < 150) {}"
BOUND = 0.100  # seconds above the unloaded latency


class _SlowJwks(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        time.sleep(1.0)
        body = b'{"keys": []}'
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def slow_jwks() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SlowJwks)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    finally:
        server.shutdown()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[dict[str, Any]]:
    with support.make_storage("sqlite", tmp_path) as storage:
        app = build_app(support.test_settings(tmp_path), storage=storage, base_url="http://credo.test")
        services = app.state.services
        services.remote_jwks = RemoteJwks(allow_private=True)
        ensure_demo(services)
        _, bravo_secret = create_client(services, "bravo", "bravo-client", scopes=("data-read",))
        create_application(services, "alpha", "pw-app", name="pw", secret="pw-app-secret-0123456789",
                           grant_types=("password",), scopes=("data-read",))
        create_client(services, "alpha", "human", secret="a human chosen secret", scopes=("data-read",))
        create_user(services, "alpha", "ann", "ann-password-123")
        yield {"app": app, "services": services, "bravo_secret": bravo_secret}


async def _latencies(http: httpx.AsyncClient, bravo_secret: str) -> tuple[float, float]:
    t0 = time.perf_counter()
    r = await http.get(f"{BRAVO}/.well-known/openid-configuration")
    t1 = time.perf_counter()
    assert r.status_code == 200
    r = await http.post(f"{BRAVO}/access_token", data={"grant_type": "client_credentials", "client_id": "bravo-client",
                                                       "client_secret": bravo_secret, "scope": "data-read"})
    t2 = time.perf_counter()
    assert r.status_code == 200, r.text
    return t1 - t0, t2 - t1


Abuse = Callable[[httpx.AsyncClient], Awaitable[list[int]]]


async def _registrations(http: httpx.AsyncClient) -> list[int]:
    replies = await asyncio.gather(*(http.post(f"{ALPHA}/register", json=SEED_BODY) for _ in range(8)))
    return [r.status_code for r in replies]


async def _password_guesses(http: httpx.AsyncClient) -> list[int]:
    replies = await asyncio.gather(*(http.post(f"{ALPHA}/access_token", data={
        "grant_type": "password", "client_id": "pw-app", "client_secret": "pw-app-secret-0123456789",
        "username": "ann" if i % 2 else f"nobody-{i}", "password": f"guess-{i}"}) for i in range(8)))
    return [r.status_code for r in replies]


async def _human_secret_guesses(http: httpx.AsyncClient) -> list[int]:
    replies = await asyncio.gather(*(http.post(f"{ALPHA}/access_token", data={
        "grant_type": "client_credentials", "client_id": "human", "client_secret": f"wrong-{i}"}) for i in range(8)))
    return [r.status_code for r in replies]


async def _statements(http: httpx.AsyncClient) -> list[int]:
    statement = Signer().sign({"iss": "https://issuer.example", "software_id": "x"})
    replies = await asyncio.gather(*(http.post(f"{ALPHA}/register", json={**SEED_BODY,
                                                                         "software_statement": statement})
                                     for _ in range(4)))
    return [r.status_code for r in replies]


ABUSES: dict[str, tuple[Abuse, set[int]]] = {
    "slow DCR script": (_registrations, {201}),
    "argon2 password guesses": (_password_guesses, {400}),
    "argon2 client-secret guesses": (_human_secret_guesses, {401}),
    "slow jwks_uri": (_statements, {400}),
}


@pytest.mark.parametrize("name", list(ABUSES))
def test_other_requests_are_answered_promptly_during_blocking_abuse(world: dict[str, Any], slow_jwks: str,
                                                                   name: str) -> None:
    services = world["services"]
    if name == "slow DCR script":
        script = create_script(services, "alpha", name="slow", source=SLOW_SCRIPT)
        select_realm_script(services, "alpha", script.id)
    if name == "slow jwks_uri":
        update_settings(services, "alpha", {"protection": {"software_statement_keys": {"jwks_uri": slow_jwks}}})
    abuse, expected = ABUSES[name]

    async def run() -> tuple[tuple[float, float], tuple[float, float], list[int]]:
        transport = httpx.ASGITransport(app=world["app"], client=("198.51.100.7", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://credo.test", timeout=30) as http:
            await _latencies(http, world["bravo_secret"])  # warm caches
            unloaded = await _latencies(http, world["bravo_secret"])
            flood = asyncio.ensure_future(abuse(http))
            await asyncio.sleep(0.02)  # the abuse is under way
            loaded = await _latencies(http, world["bravo_secret"])
            assert not flood.done(), "the abuse ended before the measurement: it proves nothing"
            return unloaded, loaded, await flood

    unloaded, loaded, statuses = support.run_async(run())
    assert set(statuses) == expected, statuses
    for before, during in zip(unloaded, loaded, strict=True):
        assert during <= before + BOUND, (name, unloaded, loaded)
