"""Test support: storages on every backend, and a real Credo HTTP server on a free port."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import uuid
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import uvicorn

from credo.app import build_app, build_services
from credo.domain.clock import Clock
from credo.oauth.services import Services
from credo.settings import Settings
from credo.storage.memory import MemoryStorage
from credo.storage.protocols import Storage
from credo.storage.sql.engine import make_engine
from credo.storage.sql.migrate import upgrade
from credo.storage.sql.store import SqlStorage

T = TypeVar("T")

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
MASTER_KEY = "test-master-key-0123456789abcdef0123456789"


def postgres_reachable() -> str | None:
    """None if PostgreSQL answers at 127.0.0.1:5432, else the reason it does not."""
    try:
        import psycopg

        with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres", connect_timeout=2):
            return None
    except Exception as exc:
        return f"PostgreSQL at 127.0.0.1:5432 is not reachable ({type(exc).__name__}: {exc})"


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh, uniquely named PostgreSQL database, dropped afterwards."""
    import psycopg

    name = f"credo_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def shared_database_url(kind: str, tmp_path: Path) -> Iterator[str]:
    """A database URL several servers can share: a SQLite file in tmp_path, or a fresh PostgreSQL database."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'shared.db'}"
    else:
        with postgres_database() as url:
            yield url


@contextmanager
def make_storage(kind: str, tmp_path: Path) -> Iterator[Storage]:
    if kind == "memory":
        yield MemoryStorage()
        return
    if kind == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'credo.db'}")
        upgrade(engine)
        storage = SqlStorage(engine)
        try:
            yield storage
        finally:
            storage.close()
        return
    with postgres_database() as url:
        engine = make_engine(url)
        upgrade(engine)
        storage = SqlStorage(engine)
        try:
            yield storage
        finally:
            storage.close()


def test_settings(tmp_path: Path, **overrides: Any) -> Settings:
    return Settings(data_dir=tmp_path, master_key=MASTER_KEY, _env_file=None, **overrides)  # type: ignore[call-arg]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    base_url: str
    services: Services
    app: Any

    def realm_url(self, realm: str = "alpha") -> str:
        return self.base_url + ("/am/oauth2" if realm == "root" else f"/am/oauth2/realms/root/realms/{realm}")

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=10)


@contextmanager
def live_server(storage: Storage, tmp_path: Path, *, clock: Clock | None = None, **settings: Any) -> Iterator[LiveServer]:
    """Run Credo with uvicorn on a free loopback port in a background thread."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    app = build_app(test_settings(tmp_path, **settings), storage=storage, base_url=base_url, clock=clock)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("server did not start")
        time.sleep(0.02)
    try:
        yield LiveServer(base_url, app.state.services, app)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def services_for(storage: Storage, tmp_path: Path, *, clock: Clock | None = None) -> Services:
    return build_services(test_settings(tmp_path), storage, base_url="http://credo.test", clock=clock)


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to the end on a thread of its own (this thread may already run an event loop)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()
