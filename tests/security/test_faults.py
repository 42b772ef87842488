"""Faults: the database going away, the server killed with SIGKILL mid-work, key rotation with tokens in
flight. Real PostgreSQL, real SQLite files, real server processes."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from credo.management.demo import ensure_demo
from credo.storage.sql.engine import make_engine
from credo.storage.sql.migrate import upgrade
from credo.storage.sql.store import SqlStorage
from tests.conftest import PG_SKIP
from tests.procs import ServerProcess, cli, cli_json, credo_server
from tests.support import free_port, in_process_server, postgres_database

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"


def _set_reachable(db: str, reachable: bool) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{db}" ALLOW_CONNECTIONS {"true" if reachable else "false"}')
        if not reachable:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (db,))


@pytest.mark.postgres
@pytest.mark.skipif(PG_SKIP is not None, reason=PG_SKIP or "")
def test_database_unreachable_is_503_and_recovers(tmp_path: Path) -> None:
    with postgres_database() as url:
        db = url.rsplit("/", 1)[1]
        storage = SqlStorage(make_engine(url))
        upgrade(storage.engine)
        try:
            with in_process_server(storage, tmp_path) as srv, srv.client() as http:
                secret = {c.client_id: c.client_secret for c in ensure_demo(srv.services)}["demo-client"]
                base = srv.realm_url("alpha")
                form = {"grant_type": "client_credentials", "client_id": "demo-client", "client_secret": secret}
                token = http.post(f"{base}/access_token", data=form).json()["access_token"]

                _set_reachable(db, False)
                try:
                    calls = [("POST", "/access_token", form),
                             ("POST", "/introspect", {"token": token, **form}),
                             ("GET", "/tokeninfo?access_token=" + token, None),
                             ("GET", "/.well-known/openid-configuration", None),
                             ("POST", "/token/revoke", {"token": token, **form})]
                    for method, path, data in calls:
                        r = http.request(method, base + path, data=data)
                        assert r.status_code == 503, (path, r.status_code, r.text)
                        assert r.json()["error"] == "temporarily_unavailable"
                        assert r.headers["retry-after"].isdigit()
                        assert r.headers["cache-control"] == "no-store"
                finally:
                    _set_reachable(db, True)

                # It recovers by itself: no restart, no intervention.
                deadline = time.monotonic() + 15
                while True:
                    r = http.post(f"{base}/access_token", data=form)
                    if r.status_code == 200 or time.monotonic() > deadline:
                        break
                    assert r.status_code == 503
                    time.sleep(0.2)
                assert r.status_code == 200, r.text
                info = http.post(f"{base}/introspect", data={"token": token, **form}).json()
                assert info["active"] is True
        finally:
            storage.close()


# --- SIGKILL in the middle of work ----------------------------------------------------------------

def _setup_realm(data_dir: Path) -> dict[str, str]:
    cli(data_dir, "realm", "create", "alpha")
    secrets = {}
    for client_id, extra in (("stateful-c", []), ("stateless-c", ["--stateless"])):
        out = cli_json(data_dir, "client", "create", "alpha", client_id, "--scope", "data-read", *extra)
        secrets[client_id] = out["client_secret"]
    return secrets


def _hammer(srv: ServerProcess, secrets: dict[str, str], stop: threading.Event,
            issued: list[tuple[str, str]], threads: int = 6) -> list[threading.Thread]:
    url = srv.realm_url("alpha") + "/access_token"

    def run(client_id: str) -> None:
        with httpx.Client(timeout=5) as http:
            while not stop.is_set():
                try:
                    r = http.post(url, data={"grant_type": "client_credentials", "client_id": client_id,
                                             "client_secret": secrets[client_id]})
                except httpx.HTTPError:
                    return  # the server is gone
                if r.status_code == 200:
                    issued.append((client_id, r.json()["access_token"]))

    workers = [threading.Thread(target=run, args=(cid,), daemon=True)
               for i in range(threads) for cid in [sorted(secrets)[i % len(secrets)]]]
    for w in workers:
        w.start()
    return workers


def _token_alive(http: httpx.Client, srv: ServerProcess, secrets: dict[str, str], client_id: str, token: str) -> bool:
    base = srv.realm_url("alpha")
    if client_id == "stateless-c":
        return http.get(f"{base}/tokeninfo", params={"access_token": token}).status_code == 200
    r = http.post(f"{base}/introspect", data={"token": token, "client_id": client_id,
                                              "client_secret": secrets[client_id]})
    return r.json().get("active") is True


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    d = tmp_path / "data"
    d.mkdir()
    yield d


def test_sigkill_during_token_issuance(data_dir: Path) -> None:
    secrets = _setup_realm(data_dir)
    issued: list[tuple[str, str]] = []
    port = free_port()  # the restarted server keeps the port: the issuer is derived from the public URL
    with credo_server(data_dir, port=port) as srv:
        jwks_before = httpx.get(srv.realm_url("alpha") + "/connect/jwk_uri").json()
        stop = threading.Event()
        workers = _hammer(srv, secrets, stop, issued)
        deadline = time.monotonic() + 10
        while len(issued) < 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        srv.kill9()  # mid-work: the hammer threads are still sending
        stop.set()
        for w in workers:
            w.join(10)
    assert len(issued) >= 50, len(issued)
    seen = list(issued)
    with credo_server(data_dir, port=port) as srv, httpx.Client(timeout=10) as http:
        assert http.get(srv.realm_url("alpha") + "/connect/jwk_uri").json() == jwks_before
        dead = [(c, t[:12]) for c, t in seen if not _token_alive(http, srv, secrets, c, t)]
        assert dead == [], f"{len(dead)} of {len(seen)} tokens lost"
        for client_id, secret in secrets.items():  # every client is still there and works
            r = http.post(srv.realm_url("alpha") + "/access_token",
                          data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret})
            assert r.status_code == 200, r.text
    listed = cli(data_dir, "keys", "list", "alpha", "--json")
    assert all(k["kid"] in listed for k in jwks_before["keys"])


def _kid(token: str) -> str:
    import jwt

    return str(jwt.get_unverified_header(token)["kid"])


def test_key_rotation_with_tokens_in_flight(data_dir: Path) -> None:
    """`credo keys rotate` runs in another process while the server issues tokens: tokens signed by the old
    key keep verifying, the JWKS lists both keys, and new tokens switch to the new kid at once (a key write
    moves the storage change counter, which every server process checks)."""
    secrets = _setup_realm(data_dir)
    issued: list[tuple[str, str]] = []
    with credo_server(data_dir) as srv, httpx.Client(timeout=10) as http:
        stop = threading.Event()
        workers = _hammer(srv, {"stateless-c": secrets["stateless-c"]}, stop, issued, threads=2)
        while len(issued) < 20:
            time.sleep(0.05)
        old_kid = _kid(issued[0][1])
        new_kid = cli_json(data_dir, "keys", "rotate", "alpha")["kid"]
        assert new_kid != old_kid
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and not any(_kid(t) == new_kid for _, t in issued[-5:]):
            time.sleep(0.25)
        stop.set()
        for w in workers:
            w.join(10)
        kids = [_kid(t) for _, t in issued]
        assert kids[-1] == new_kid, "new tokens must use the new key"
        assert set(kids) == {old_kid, new_kid}
        jwks = {k["kid"] for k in http.get(srv.realm_url("alpha") + "/connect/jwk_uri").json()["keys"]}
        assert {old_kid, new_kid} <= jwks
        old = [t for _, t in issued if _kid(t) == old_kid]
        for token in old[:: max(1, len(old) // 50)] + old[-5:]:
            assert _token_alive(http, srv, secrets, "stateless-c", token)
        assert _token_alive(http, srv, secrets, "stateless-c", issued[-1][1])


def test_sigkill_during_registrations(data_dir: Path) -> None:
    """kill -9 while registrations run concurrently: after restart no half-created client exists, and
    every client whose 201 arrived exists and can get a token."""
    cli(data_dir, "realm", "create", "alpha")
    cli(data_dir, "realm", "settings", "alpha", "--set",
        '{"allow_open_registration": true, "registration_scope_allowlist": ["data-read", "data-write"]}')
    body = {"grant_types": ["client_credentials"], "scope": "data-read", "client_name": "crash-test",
            "token_endpoint_auth_method": "client_secret_post"}
    registered: list[dict[str, str]] = []
    port = free_port()
    with credo_server(data_dir, port=port) as srv:
        url = srv.realm_url("alpha") + "/register"
        stop = threading.Event()

        def run() -> None:
            with httpx.Client(timeout=5) as http:
                while not stop.is_set():
                    try:
                        r = http.post(url, json=body)
                    except httpx.HTTPError:
                        return
                    if r.status_code == 201:
                        registered.append(r.json())

        workers = [threading.Thread(target=run, daemon=True) for _ in range(6)]
        for w in workers:
            w.start()
        deadline = time.monotonic() + 10
        while len(registered) < 60 and time.monotonic() < deadline:
            time.sleep(0.05)
        srv.kill9()
        stop.set()
        for w in workers:
            w.join(10)
    assert len(registered) >= 20, len(registered)

    from credo.storage.sql.engine import make_engine as engine_for

    storage = SqlStorage(engine_for(f"sqlite:///{data_dir / 'credo.db'}"))
    try:
        stored = storage.clients.all("alpha", dynamic=True, limit=100_000)
        half = [c.client_id for c in stored if not (c.secret_hash and c.registration_token_hash and c.scopes
                                                    and c.grant_types == ("client_credentials",))]
        assert half == []
        ids = {c.client_id for c in stored}
        assert {r["client_id"] for r in registered} <= ids
    finally:
        storage.close()
    with credo_server(data_dir, port=port) as srv, httpx.Client(timeout=10) as http:
        for reg in registered:
            r = http.post(srv.realm_url("alpha") + "/access_token",
                          data={"grant_type": "client_credentials", "client_id": reg["client_id"],
                                "client_secret": reg["client_secret"]})
            assert r.status_code == 200, r.text
