"""Test support: storages on every backend, and Credo served in process or on a free loopback port."""

from __future__ import annotations

import asyncio
import shutil
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn
from sqlalchemy import Connection

from credo.app import build_app, build_services
from credo.domain.clock import Clock
from credo.domain.models import Client, Realm, User
from credo.oauth.services import Services
from credo.settings import Settings
from credo.storage.memory import MemoryStorage
from credo.storage.protocols import Storage
from credo.storage.sql.engine import make_engine
from credo.storage.sql.migrate import alembic_config, upgrade
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
    """A fresh, empty, uniquely named PostgreSQL database, dropped afterwards."""
    name = _create_database()
    try:
        yield _url(name)
    finally:
        _drop_database(name)


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
        shutil.copyfile(_migrated_sqlite_file(), tmp_path / "credo.db")
        engine = make_engine(f"sqlite:///{tmp_path / 'credo.db'}")
        upgrade(engine)  # finds the database at head
        storage = SqlStorage(engine)
        try:
            yield storage
        finally:
            storage.close()
        return
    with migrated_postgres_database() as url:
        engine = make_engine(url)
        upgrade(engine)
        storage = SqlStorage(engine)
        try:
            yield storage
        finally:
            storage.close()


@contextmanager
def storage_upgraded_from(kind: str, tmp_path: Path, revision: str,
                          fill: Callable[[Connection], object]) -> Iterator[SqlStorage]:
    """A storage on a new SQLite file or PostgreSQL database that was migrated only up to `revision`, given
    rows there by `fill` (SQL for that revision's schema) and then upgraded to the head, as the start-up
    upgrades an existing installation."""
    from alembic import command

    with shared_database_url(kind, tmp_path) as url:
        engine = make_engine(url)
        command.upgrade(alembic_config(engine), revision)
        with engine.begin() as conn:
            fill(conn)
        upgrade(engine)
        storage = SqlStorage(engine)
        try:
            yield storage
        finally:
            storage.close()


_SQLITE_MIGRATED: list[Path] = []


def _migrated_sqlite_file() -> Path:
    """A SQLite file as the migrations leave a new database, made once: copying it is far faster than
    migrating each test's database again."""
    if not _SQLITE_MIGRATED:
        path = Path(tempfile.mkdtemp(prefix="credo-migrated-")) / "credo.db"
        engine = make_engine(f"sqlite:///{path}")
        try:
            upgrade(engine)
        finally:
            engine.dispose()  # the last connection closed: SQLite moves the write-ahead log into the file
        assert not path.with_name("credo.db-wal").exists()
        _SQLITE_MIGRATED.append(path)
    return _SQLITE_MIGRATED[0]


# Migrated PostgreSQL databases that earlier tests used and that were emptied since: creating and
# migrating a database takes far longer than emptying one. Each test still gets a database of its own,
# holding exactly what the migrations left in it.
_EMPTIED: list[str] = []
_MIGRATED_ROWS: dict[str, list[tuple[str, list[str], list[tuple[Any, ...]]]]] = {}  # rows the migrations insert


@contextmanager
def migrated_postgres_database() -> Iterator[str]:
    """The URL of a migrated PostgreSQL database for this caller alone, as it is after the migrations."""
    import psycopg

    if _EMPTIED:
        name = _EMPTIED.pop()
    else:
        name = _create_database()
        engine = make_engine(_url(name))
        try:
            upgrade(engine)
        finally:
            engine.dispose()
        with psycopg.connect(_dsn(name)) as conn:
            _MIGRATED_ROWS[name] = [(table, *_rows(conn, table)) for table in _tables(conn)]
    try:
        yield _url(name)
    finally:
        if _empty(name):
            _EMPTIED.append(name)
        else:
            _drop_database(name)


def remove_test_databases() -> None:
    """Drop the emptied PostgreSQL databases and remove the migrated SQLite file (at the end of a run)."""
    while _EMPTIED:
        _drop_database(_EMPTIED.pop())
    while _SQLITE_MIGRATED:
        shutil.rmtree(_SQLITE_MIGRATED.pop().parent, ignore_errors=True)


def _dsn(name: str) -> str:
    return f"host=127.0.0.1 port=5432 user=postgres dbname={name}"


def _url(name: str) -> str:
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def _tables(conn: Any) -> list[str]:
    return [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")]


def _rows(conn: Any, table: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    from psycopg import sql

    cur = conn.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(table)))
    return [d.name for d in cur.description], cur.fetchall()


def _empty(name: str) -> bool:
    """Bring a used database back to what the migrations left (False if that cannot be done: drop it)."""
    import psycopg
    from psycopg import sql

    try:
        with psycopg.connect(_dsn(name), autocommit=True) as conn:
            # Nothing of the finished test may still hold a connection (or a lock) here.
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE datname = current_database() AND pid <> pg_backend_pid()")
            conn.execute("SET lock_timeout = '5s'")
            seeded = _MIGRATED_ROWS[name]
            if _tables(conn) != [table for table, _, _ in seeded]:
                return False
            with conn.transaction():  # rows, not files: DELETE is many times faster than TRUNCATE on tiny tables
                conn.execute("SET LOCAL session_replication_role = replica")  # no foreign-key order to follow
                for table, columns, rows in seeded:
                    conn.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(table)))
                    if rows:
                        insert = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
                            sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns)),
                            sql.SQL(", ").join(sql.Placeholder() * len(columns)))
                        conn.cursor().executemany(insert, rows)
                conn.execute("SELECT setval(format('%I.%I', schemaname, sequencename)::regclass, start_value, false) "
                             "FROM pg_sequences WHERE schemaname = 'public'")
        return True
    except psycopg.Error:
        return False


def _create_database() -> str:
    import psycopg

    name = f"credo_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_dsn("postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


def _drop_database(name: str) -> None:
    import psycopg

    with psycopg.connect(_dsn("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Settings of an in-process server: the access log off unless a test asks for it (its lines, written up to
    50 ms later, would land in whatever stream another test captures next)."""
    return Settings(**{"data_dir": tmp_path, "master_key": MASTER_KEY, "_env_file": None, "access_log": False,
                       **overrides})


def cli_data_dir(monkeypatch: Any, data_dir: Path) -> Path:
    """Point the command line (run in this process, e.g. with typer's CliRunner) at a SQLite data directory."""
    monkeypatch.setenv("CREDO_DATA_DIR", str(data_dir))
    monkeypatch.setenv("CREDO_MASTER_KEY", MASTER_KEY)
    monkeypatch.delenv("CREDO_DATABASE_URL", raising=False)
    monkeypatch.delenv("CREDO_PUBLIC_URL", raising=False)
    return data_dir


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """What a test sees of a running Credo: its URLs, its services and HTTP clients for it.

    Two kinds: `InProcessServer` (the default: the app is called through ASGI on an event loop of its own,
    no socket) and `LiveServer` (uvicorn on a loopback port, for tests whose point is the socket itself)."""

    base_url: str
    services: Services
    app: Any

    def realm_url(self, realm: str = "alpha") -> str:
        return self.base_url + ("/am/oauth2" if realm == "root" else f"/am/oauth2/realms/root/realms/{realm}")

    def client(self, *, source: str = "127.0.0.1") -> httpx.Client:
        """A client for this server; `source` is the client address the server sees."""
        raise NotImplementedError

    def async_client(self, **kw: Any) -> httpx.AsyncClient:
        raise NotImplementedError


@dataclass
class LiveServer(Server):
    """Credo served by uvicorn on a loopback port: for tests of the socket itself (HTTP parsing, the server
    protocol, keep-alive), of other processes (a browser, node, the command line) and of client libraries
    that open their own connections."""

    base_url: str
    services: Services
    app: Any

    def client(self, *, source: str = "127.0.0.1") -> httpx.Client:
        transport = httpx.HTTPTransport(local_address=source)
        return httpx.Client(base_url=self.base_url, timeout=10, transport=transport)

    def async_client(self, **kw: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, timeout=10, **kw)


@contextmanager
def uvicorn_serving(app: Any, port: int, **options: Any) -> Iterator[None]:
    """`app` served by uvicorn on 127.0.0.1:`port` in a background thread, until the block ends."""
    options = {"log_level": "warning", "access_log": False, "lifespan": "off", **options}
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, **options))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("server did not start")
        time.sleep(0.02)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def live_server(storage: Storage, tmp_path: Path, *, clock: Clock | None = None, **settings: Any) -> Iterator[LiveServer]:
    """Run Credo with uvicorn on a free loopback port in a background thread."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    app = build_app(test_settings(tmp_path, **settings), storage=storage, base_url=base_url, clock=clock)
    with uvicorn_serving(app, port):
        yield LiveServer(base_url, app.state.services, app)


IN_PROCESS_URL = "http://credo.test"
REQUEST_TIMEOUT = 30.0


class _OnLoop:
    """Runs one request through httpx's ASGI transport on the server's event loop and reads the whole answer
    there, as uvicorn would: every request of every client of one server runs on that one loop, so
    concurrent requests share its steps (the group commits rely on this). Exceptions that escape the app
    become a 500, as uvicorn answers them."""

    def __init__(self, app: Any, loop: asyncio.AbstractEventLoop, source: str) -> None:
        self._asgi = httpx.ASGITransport(app, raise_app_exceptions=False, client=(source, 50000))
        self._loop = loop

    async def _answer(self, request: httpx.Request) -> httpx.Response:
        response = await self._asgi.handle_async_request(request)
        body = b"".join([part async for part in response.aiter_raw()])
        return httpx.Response(response.status_code, headers=response.headers.raw, stream=httpx.ByteStream(body),
                              extensions={"http_version": b"HTTP/1.1"})


class _SyncOnLoop(_OnLoop, httpx.BaseTransport):
    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()  # the body as bytes: a stream both sync and async code can read
        return asyncio.run_coroutine_threadsafe(self._answer(request), self._loop).result(REQUEST_TIMEOUT)


class _AsyncOnLoop(_OnLoop, httpx.AsyncBaseTransport):
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        future = asyncio.run_coroutine_threadsafe(self._answer(request), self._loop)
        return await asyncio.wait_for(asyncio.wrap_future(future), REQUEST_TIMEOUT)


@dataclass
class InProcessServer(Server):
    """Credo called in process (ASGI, no socket) on an event loop running in a thread of its own."""

    base_url: str
    services: Services
    app: Any
    loop: asyncio.AbstractEventLoop

    def client(self, *, source: str = "127.0.0.1") -> httpx.Client:
        return httpx.Client(base_url=self.base_url, transport=_SyncOnLoop(self.app, self.loop, source))

    def async_client(self, *, source: str = "127.0.0.1", **kw: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, transport=_AsyncOnLoop(self.app, self.loop, source), **kw)


@contextmanager
def in_process_server(storage: Storage, tmp_path: Path, *, clock: Clock | None = None,
                      **settings: Any) -> Iterator[InProcessServer]:
    """Credo on `storage`, answering at IN_PROCESS_URL without a socket (see InProcessServer)."""
    app = build_app(test_settings(tmp_path, **settings), storage=storage, base_url=IN_PROCESS_URL, clock=clock)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="credo-test-loop", daemon=True)
    thread.start()
    try:
        yield InProcessServer(IN_PROCESS_URL, app.state.services, app, loop)
    finally:
        asyncio.run_coroutine_threadsafe(_cancel_the_rest(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


@contextmanager
def demo_server_the_cli_reaches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InProcessServer]:
    """The demo realms on a SQLite file in `tmp_path`, served in process, with the environment the `credo`
    CLI reads pointing at the same file and master key (a command run by the test changes what it serves)."""
    from credo.management.demo import ensure_demo

    monkeypatch.setenv("CREDO_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CREDO_MASTER_KEY", MASTER_KEY)
    monkeypatch.delenv("CREDO_DATABASE_URL", raising=False)
    with make_storage("sqlite", tmp_path) as storage, in_process_server(storage, tmp_path) as srv:
        ensure_demo(srv.services)
        yield srv


async def _cancel_the_rest() -> None:
    """Cancel what requests left running on the loop (as uvicorn's shutdown does), and wait for it to end."""
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


PROBE_REALM = "signin-fields-probe"


def keeps_signin_fields(storage: Storage) -> bool:
    """Whether `storage` keeps what browser sign-in added to clients and users (resources, post-logout
    redirect URIs, application type, skip_consent; name and email): the SQL backends keep them once their
    migration is in. Tests of those fields run on the backends that do (always on memory). The probe
    leaves nothing behind: its realm is deleted with everything in it."""
    client = Client(realm=PROBE_REALM, client_id="probe", resources=("https://probe.example/mcp",),
                    post_logout_redirect_uris=("https://probe.example/bye",), application_type="native",
                    skip_consent=True, redirect_uris=("https://probe.example/cb",))
    user = User(realm=PROBE_REALM, id="probe", username="probe", password_hash="x", name="Probe", email="p@probe.example")
    storage.realms.put(Realm(name=PROBE_REALM))
    try:
        storage.clients.create(client)
        storage.users.put(user)
        return storage.clients.get(PROBE_REALM, "probe") == client and storage.users.get(PROBE_REALM, "probe") == user
    finally:
        storage.realms.delete(PROBE_REALM)


SIGNIN_FIELDS_MISSING = "this storage does not keep the browser sign-in fields of clients and users yet"


def services_for(storage: Storage, tmp_path: Path, *, clock: Clock | None = None) -> Services:
    return build_services(test_settings(tmp_path), storage, base_url="http://credo.test", clock=clock)


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to the end on a thread of its own (this thread may already run an event loop)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


REDIS_URL = "redis://127.0.0.1:6379/0"


def redis_reachable() -> str | None:
    """None if Redis answers at 127.0.0.1:6379, else the reason it does not."""
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=2).ping()
        return None
    except Exception as exc:
        return f"Redis at 127.0.0.1:6379 is not reachable ({type(exc).__name__}: {exc})"


def redis_prefix() -> str:
    """A key prefix no other test (or test run) shares."""
    return f"credo-test:{uuid.uuid4().hex[:12]}:"


def remove_redis_keys(prefix: str) -> None:
    """Delete every key under `prefix` (one test's keys)."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()
