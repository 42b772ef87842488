"""CREDO_EPHEMERAL_URL chooses where the ephemeral state lives; the throttles, the registration rate limit
and `services.ephemeral` (the replay cache's callers) all use the one chosen."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from credo.app import build_services
from credo.settings import Settings
from credo.storage.memory import MemoryStorage
from credo.storage.protocols import EphemeralState, StorageUnavailable
from credo.storage.redis_state import TIMEOUT, RedisEphemeral
from tests.support import MASTER_KEY, REDIS_URL, free_port, redis_prefix, redis_reachable, remove_redis_keys, run_async

REDIS_SKIP = redis_reachable()
PREFIX = redis_prefix()


def _services(tmp_path: Path, **settings: str) -> tuple[MemoryStorage, Any]:
    storage = MemoryStorage()
    services = build_services(Settings(_env_file=None, data_dir=tmp_path, master_key=MASTER_KEY, **settings),  # type: ignore[call-arg]
                              storage, base_url="http://127.0.0.1")
    return storage, services


def _failures_land_in(services: Any, state: EphemeralState) -> bool:
    """One failure through each throttle: are they all recorded in `state`?"""
    now = services.clock.now()
    before = len(state.newer(0, now, 1000))
    for name in ("auth_throttle", "login_throttle", "spray_throttle"):
        getattr(services, name).failed(("alpha", f"who-{uuid.uuid4().hex}", "192.0.2.1"))
    return len(state.newer(0, now, 1000)) == before + 6  # per source and per identity, three throttles


def test_by_default_the_database_holds_it(tmp_path: Path) -> None:
    storage, services = _services(tmp_path)
    assert services.ephemeral is storage.ephemeral
    assert services.registration_rate.state is storage.ephemeral
    assert _failures_land_in(services, storage.ephemeral)


def test_a_redis_url_puts_it_in_redis(tmp_path: Path) -> None:
    storage, services = _services(tmp_path, ephemeral_url=REDIS_URL, ephemeral_prefix=PREFIX)
    chosen = services.ephemeral
    assert isinstance(chosen, RedisEphemeral)  # made without connecting: nothing is asked yet
    assert services.registration_rate.state is chosen
    assert storage.ephemeral is not chosen
    if REDIS_SKIP is None:
        try:
            assert _failures_land_in(services, chosen)
            assert storage.ephemeral.newer(0, 0, 10) == []  # nothing went to the database
        finally:
            remove_redis_keys(PREFIX)
    chosen.close()


@pytest.mark.parametrize("url", ["postgresql://db/x", "http://127.0.0.1:6379", "127.0.0.1:6379"])
def test_only_a_redis_url_is_accepted(tmp_path: Path, url: str) -> None:
    with pytest.raises(ValidationError):
        Settings(_env_file=None, data_dir=tmp_path, master_key=MASTER_KEY, ephemeral_url=url)  # type: ignore[call-arg]


def test_an_unreachable_redis_is_storage_unavailable_quickly() -> None:
    """The request is then answered 503 (as for an unreachable database), after at most the socket timeout."""
    state = RedisEphemeral(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    started = time.monotonic()
    for call in (lambda: state.hit("k", 1, 60, 0), lambda: run_async(state.first_use("k", 60, now=0)),
                 lambda: state.add("k", 0, 60), lambda: state.newer(0, 0, 1)):
        with pytest.raises(StorageUnavailable):
            call()
    assert time.monotonic() - started < 4 * TIMEOUT + 1
    state.close()


def _connections_named(name: str) -> int:
    import redis
    admin = redis.Redis.from_url(REDIS_URL, socket_timeout=2)
    try:
        return sum(1 for client in admin.client_list() if client.get("name") == name)
    finally:
        admin.close()


@pytest.mark.skipif(REDIS_SKIP is not None, reason=REDIS_SKIP or "")
def test_closing_lets_go_of_every_connection_to_redis() -> None:
    """The server's shutdown step (`CredoApp.on_shutdown`, on a thread while the serving loop still runs)
    closes the loop's asynchronous client (replay marks) and the synchronous one (throttles, rate limits)."""
    name = f"credo-test-{uuid.uuid4().hex[:12]}"
    state = RedisEphemeral(REDIS_URL, prefix=PREFIX, name=name)
    loop = asyncio.new_event_loop()
    serving = threading.Thread(target=loop.run_forever, daemon=True)
    serving.start()
    now = int(time.time())
    try:
        assert asyncio.run_coroutine_threadsafe(state.first_use("jti-1", now + 60, now=now), loop).result(5)
        assert state.hit("rate-1", 5, 60, now) == 0
        assert _connections_named(name) == 2
        state.close()
        deadline = time.monotonic() + 2
        while _connections_named(name) and time.monotonic() < deadline:
            time.sleep(0.02)  # the server drops a closed connection as soon as it reads the close
        assert _connections_named(name) == 0
    finally:
        loop.call_soon_threadsafe(loop.stop)
        serving.join(5)
        loop.close()
        remove_redis_keys(PREFIX)


def test_the_server_closes_the_ephemeral_state_when_it_stops(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`create_app` (what `credo serve` runs) makes closing it a shutdown step, after the maintenance thread's."""
    from credo import app as app_module

    monkeypatch.setenv("CREDO_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CREDO_MASTER_KEY", MASTER_KEY)
    monkeypatch.setenv("CREDO_EPHEMERAL_URL", REDIS_URL)
    monkeypatch.setenv("CREDO_EPHEMERAL_PREFIX", PREFIX)
    app = app_module.create_app()
    try:
        ephemeral = app.state.services.ephemeral
        assert isinstance(ephemeral, RedisEphemeral)
        assert app.on_shutdown[-1] == ephemeral.close
    finally:
        for step in app.on_shutdown:
            step()
        app.state.services.storage.close()
