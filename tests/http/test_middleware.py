"""A middleware added with `add_middleware` sees every request: every public endpoint (the hot ones
included) and the admin surfaces, in process through httpx's ASGI transport."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from credo.app import build_app
from credo.management.demo import ensure_demo
from credo.storage.memory import MemoryStorage
from tests import support
from tests.factories import SEED_BODY

A = "/am/oauth2/realms/root/realms/alpha"
T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """asyncio.run on a thread of its own (another test may have left this thread's loop running)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


class Recorder:
    """A pure ASGI middleware: records (method, path, status) of every HTTP request it passes on."""

    def __init__(self, app: ASGIApp, seen: list[tuple[str, str, int]], tag: str = "") -> None:
        self.app = app
        self.seen = seen
        self.tag = tag

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.seen.append((scope["method"], scope["path"], message["status"]))
                message["headers"] = [*message["headers"], (b"x-seen-by", self.tag.encode())]
            await send(message)

        await self.app(scope, receive, recording_send)


def _calls(creds: dict[str, str]) -> list[tuple[str, str, dict[str, Any]]]:
    auth = {"client_id": "bench-client", "client_secret": creds["bench-client"]}
    return [
        ("POST", f"{A}/access_token", {"data": {"grant_type": "client_credentials", "scope": "data-read", **auth}}),
        ("POST", f"{A}/introspect", {"data": {"token": "junk", **auth}}),
        ("POST", f"{A}/register", {"json": SEED_BODY}),
        ("GET", f"{A}/register/some-client", {"headers": {"authorization": "Bearer junk"}}),
        ("POST", f"{A}/aiagent/register", {"json": SEED_BODY}),
        ("GET", f"{A}/tokeninfo", {"params": {"access_token": "junk"}}),
        ("POST", f"{A}/token/revoke", {"data": {"token": "junk", **auth}}),
        ("GET", f"{A}/.well-known/openid-configuration", {}),
        ("GET", "/.well-known/oauth-authorization-server/am/oauth2", {}),
        ("GET", f"{A}/connect/jwk_uri", {}),
        ("GET", "/am/oauth2/openapi.json", {}),
        ("GET", "/admin/api/realms", {}),
        ("GET", "/am/oauth2/no-such-endpoint", {}),
    ]


async def _run(app: Any, calls: list[tuple[str, str, dict[str, Any]]]) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://credo.test") as http:
        return [await http.request(method, path, **kwargs) for method, path, kwargs in calls]


@pytest.fixture
def app(tmp_path: Path) -> Any:
    return build_app(support.test_settings(tmp_path), storage=MemoryStorage(), base_url="http://credo.test")


def test_a_middleware_sees_every_endpoint(app: Any) -> None:
    creds = {c.client_id: c.client_secret for c in ensure_demo(app.state.services)}
    seen: list[tuple[str, str, int]] = []
    app.add_middleware(Recorder, seen=seen, tag="inner")
    app.add_middleware(Recorder, seen=seen, tag="outer")  # the last added runs first, as in Starlette
    calls = _calls(creds)
    responses = run(_run(app, calls))
    expected = [200, 200, 201, 401, 201, 401, 200, 200, 200, 200, 200, 401, 404]
    assert [r.status_code for r in responses] == expected, [r.text for r in responses]
    # each request passed both middleware, inner then outer on the way out
    assert seen == [(m, p, s) for (m, p, _), s in zip(calls, expected, strict=True) for _ in range(2)]
    for r in responses:
        assert r.headers.get_list("x-seen-by") == ["inner", "outer"]
    assert responses[0].json()["token_type"] == "Bearer"


def test_no_middleware_once_started(app: Any) -> None:
    run(_run(app, [("GET", "/am/oauth2/openapi.json", {})]))
    with pytest.raises(RuntimeError):
        app.add_middleware(Recorder, seen=[])


def test_lifespan_and_state_are_shared(app: Any) -> None:
    """The admin application reads the same state; lifespan messages are answered."""
    assert app.admin.state is app.state
    sent: list[str] = []
    messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])

    async def receive() -> Message:
        return next(messages)

    async def send(message: Message) -> None:
        sent.append(message["type"])

    run(app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send))
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


def _token_calls(app: Any, creds: dict[str, str | None], n: int) -> list[httpx.Response]:
    data = {"grant_type": "client_credentials", "scope": "data-read", "client_id": "bench-client",
            "client_secret": creds["bench-client"]}

    async def calls() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://credo.test") as http:
            return list(await asyncio.gather(*(http.post(f"{A}/access_token", data=data) for _ in range(n))))

    return run(calls())


@pytest.mark.parametrize("round_trip, reads", [(True, 1), (False, 8)])
def test_requests_dispatched_together_share_one_counter_read(app: Any, round_trip: bool, reads: int) -> None:
    """The dispatcher's cross-cutting steps: each request marks its arrival, and when the change counter
    is a round trip (PostgreSQL) yields once first, so one read serves the requests dispatched together."""
    cache = app.state.services.storage.cache
    app.state.services.storage.counter_round_trip = round_trip
    creds = {c.client_id: c.client_secret for c in ensure_demo(app.state.services)}
    _token_calls(app, creds, 1)
    before = cache.counter_reads
    responses = _token_calls(app, creds, 8)
    assert [r.status_code for r in responses] == [200] * 8
    assert cache.counter_reads - before == reads
