"""Credo in this process: the real application, driven through httpx's ASGI transport (no server, no port)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from credo.app import build_app
from credo.domain.clock import Clock
from credo.management.demo import ensure_demo
from credo.oauth.services import Services
from credo.storage.protocols import Storage
from tests.support import test_settings

BASE_URL = "http://credo.test"
ALPHA = "/am/oauth2/realms/root/realms/alpha"


class InProcess:
    """One Credo application with a synchronous face for tests (`post`, `get`) and `gather` for
    requests that must be in flight at the same time. The application runs on its own event loop in a
    thread of its own, so a loop some other test left running in the main thread does not matter."""

    def __init__(self, storage: Storage, tmp_path: Path, *, clock: Clock | None = None, **settings: Any) -> None:
        self.app = build_app(test_settings(tmp_path, **settings), storage=storage, base_url=BASE_URL, clock=clock)
        self.services: Services = self.app.state.services
        self.demo = {c.client_id: c.client_secret for c in ensure_demo(self.services)}
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="credo-in-process", daemon=True)
        self._thread.start()
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url=BASE_URL)

    def run(self, call: Awaitable[Any]) -> Any:
        async def wrapped() -> Any:
            return await call

        return asyncio.run_coroutine_threadsafe(wrapped(), self.loop).result(timeout=120)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.run(self.http.post(path, **kwargs))  # type: ignore[no-any-return]

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.run(self.http.get(path, **kwargs))  # type: ignore[no-any-return]

    def gather(self, calls: list[Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]]) -> list[httpx.Response]:
        async def all_at_once() -> list[httpx.Response]:
            return list(await asyncio.gather(*(call(self.http) for call in calls)))

        return self.run(all_at_once())  # type: ignore[no-any-return]

    def token(self, client_id: str, secret: str, realm_path: str = ALPHA, **data: str) -> httpx.Response:
        return self.post(f"{realm_path}/access_token", data={"grant_type": "client_credentials", "client_id": client_id,
                                                            "client_secret": secret, **data})

    def close(self) -> None:
        try:
            self.run(self.http.aclose())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)
            self.loop.close()


@contextmanager
def in_process(storage: Storage, tmp_path: Path, *, clock: Clock | None = None, **settings: Any) -> Iterator[InProcess]:
    app = InProcess(storage, tmp_path, clock=clock, **settings)
    try:
        yield app
    finally:
        app.close()


def assert_error(r: httpx.Response, status: int, error: str) -> None:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.json()["error"] == error, r.text
    assert r.headers["cache-control"] == "no-store"
