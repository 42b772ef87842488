"""The PostgreSQL fast path (psycopg on a psycopg_pool pool): its rows read back the same through the
administration (SQLAlchemy) statements and the other way round, an exact change counter across
connections, unique violations as conflicts, and dropped connections answered with 503 and replaced."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import make_url

from credo.domain.models import AuditEvent, Client, Realm, TokenRecord
from credo.domain.settings import ProviderSettings
from credo.management.demo import ensure_demo
from credo.storage.protocols import Conflict, NewClient, StorageUnavailable
from credo.storage.sql.engine import make_engine
from credo.storage.sql.fast_pg import APPLICATION_NAME, MAX_LOOP_CONNECTIONS, PgFastPath
from credo.storage.sql.migrate import upgrade
from credo.storage.sql.store import SqlStorage
from tests.conftest import PG_SKIP
from tests.support import in_process_server, postgres_database, run_async

ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"


@pytest.fixture
def url() -> Iterator[str]:
    with postgres_database() as database_url:
        yield database_url


def _storage(url: str) -> SqlStorage:
    engine = make_engine(url)
    upgrade(engine)
    return SqlStorage(engine)


def _fast_connections(url: str, *, terminate: bool = False) -> int:
    """How many fast-path connections the database has (terminated first with `terminate`)."""
    what = "pg_terminate_backend(pid)" if terminate else "pid"
    with psycopg.connect(ADMIN, autocommit=True) as admin:
        rows = admin.execute(f"SELECT {what} FROM pg_stat_activity WHERE datname = %s AND application_name = %s",
                             (make_url(url).database, APPLICATION_NAME)).fetchall()
    return len(rows)


def _terminate_fast_connections(url: str) -> int:
    return _fast_connections(url, terminate=True)


def _token(token_hash: str) -> TokenRecord:
    return TokenRecord(token_hash=token_hash, realm="r", jti="j-" + token_hash, kind="access_token", client_id="a",
                       sub="a", scopes=("read", "write"), issued_at=1, expires_at=2, claims={"x": [1, "é"]})


@pytest.mark.postgres
@pytest.mark.skipif(PG_SKIP is not None, reason=PG_SKIP or "")
def test_driver_rows_and_sqlalchemy_rows_agree(url: str) -> None:
    storage = _storage(url)
    try:
        assert isinstance(storage.fast, PgFastPath)
        realm = Realm(name="r", settings=ProviderSettings(), created_at=5)
        storage.realms.put(realm)  # SQLAlchemy writes, the driver reads
        assert storage.realms.get("r") == realm and storage.realms.all() == [realm]
        assert storage.realms.get("missing") is None
        client = Client(realm="r", client_id="a", name="A", secret_hash="s", grant_types=("client_credentials",),
                        scopes=("read",), attributes={"k": "v"}, enabled=False, dynamic=True, created_at=7,
                        updated_at=8, registration_token_hash="rt", registration_token_expires_at=99)
        storage.clients.create(client, burn=("jti-1", 10**10),
                               audit=AuditEvent(realm="r", action="register", actor="a", decision="allow",
                                                target="a", reason="", details={"n": 1}, ts=3))
        assert storage.clients.get("r", "a") == client and storage.clients.all("r") == [client]
        assert storage.clients.get("r", "missing") is None
        renamed = replace(client, name="B", enabled=True)
        storage.clients.update(renamed)  # SQLAlchemy writes, the driver reads
        assert storage.clients.get("r", "a") == replace(renamed, version=1)
        storage.clients.touch("r", "a", 42)
        assert storage.clients.last_used("r", "a") == 42
        storage.tokens.add(_token("h1"))
        storage.tokens.add_many([_token("h2"), _token("h3")])
        for h in ("h1", "h2", "h3"):
            assert storage.tokens.get(h) == _token(h)
        assert storage.tokens.get("nope") is None
        assert storage.tokens.delete("h3") and storage.tokens.get("h3") is None
        assert storage.one_time.is_burned("r", "jti-1")
        assert storage.one_time.any_burned("r", ("x", "jti-1", "y")) is True
        assert storage.one_time.any_burned("r", ("x", "y")) is False
        assert [e.details for e in storage.audit.query("r")] == [{"n": 1}]
        with psycopg.connect(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)) as raw:
            assert storage.change_counter() == raw.execute("SELECT n FROM change_counter").fetchone()[0]
    finally:
        storage.close()


@pytest.mark.postgres
@pytest.mark.skipif(PG_SKIP is not None, reason=PG_SKIP or "")
def test_change_counter_follows_commits_of_other_connections(url: str) -> None:
    one, two = _storage(url), _storage(url)
    try:
        start = one.change_counter()
        two.clients.create(Client(realm="r", client_id="a"))
        assert one.change_counter() == start  # a creation is not a change any cache must see
        two.clients.update(Client(realm="r", client_id="a", name="renamed"))
        assert one.change_counter() == start + 1
        with psycopg.connect(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False),
                             autocommit=True) as raw:  # any other writer, e.g. another process
            raw.execute("UPDATE change_counter SET n = n + 5 WHERE id = 1")
        assert one.change_counter() == start + 6
    finally:
        one.close()
        two.close()


@pytest.mark.postgres
@pytest.mark.skipif(PG_SKIP is not None, reason=PG_SKIP or "")
def test_unique_violations_are_conflicts(url: str) -> None:
    storage = _storage(url)
    try:
        storage.tokens.add(_token("h"))
        with pytest.raises(Conflict):
            storage.tokens.add(_token("h"))
        assert storage.one_time.burn("r", "x", 10**10) is True
        assert storage.one_time.burn("r", "x", 10**10) is False
        storage.clients.create(Client(realm="r", client_id="b"))
        outcomes = storage.clients.create_many([NewClient(Client(realm="r", client_id=c)) for c in "abc"])
        assert [type(o) for o in outcomes] == [type(None), Conflict, type(None)]  # only the duplicate undone
        assert {c.client_id for c in storage.clients.all("r")} == {"a", "b", "c"}
        assert storage.tokens.get("h") is not None  # the connection is still usable after the errors
    finally:
        storage.close()


@pytest.mark.postgres
@pytest.mark.skipif(PG_SKIP is not None, reason=PG_SKIP or "")
def test_a_batch_is_one_transaction_and_savepoints_only_after_a_conflict(url: str,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    storage = _storage(url)
    fast = storage.fast
    assert isinstance(fast, PgFastPath)
    runs: list[str] = []
    run = fast._run

    def counting_run(work: Any, *, read: bool) -> Any:
        runs.append("run")
        return run(work, read=read)

    monkeypatch.setattr(fast, "_run", counting_run)
    try:
        assert storage.clients.create_many([NewClient(Client(realm="r", client_id=c)) for c in "abc"]) == [None] * 3
        assert runs == ["run"]  # one transaction for the whole batch
        assert {c.client_id for c in storage.clients.all("r")} == {"a", "b", "c"}
        runs.clear()
        outcomes = storage.clients.create_many([NewClient(Client(realm="r", client_id=c)) for c in "dbe"])
        assert [type(o) for o in outcomes] == [type(None), Conflict, type(None)]
        assert runs == ["run", "run"]  # the batch in one transaction, rolled back; again with a savepoint each
        assert {c.client_id for c in storage.clients.all("r")} == {"a", "b", "c", "d", "e"}
    finally:
        storage.close()


@pytest.mark.postgres
@pytest.mark.skipif(PG_SKIP is not None, reason=PG_SKIP or "")
def test_dropped_connections_fail_one_write_and_are_replaced(url: str) -> None:
    storage = _storage(url)
    try:
        storage.tokens.add(_token("h1"))
        assert _terminate_fast_connections(url) == 1
        assert storage.clients.get("r", "a") is None  # a read retries once on a fresh connection
        assert _terminate_fast_connections(url) >= 1  # the pool may have opened one more meanwhile
        with pytest.raises(StorageUnavailable):  # a write is not retried: its COMMIT may have been applied
            storage.tokens.add(_token("h2"))
        storage.tokens.add(_token("h2"))  # the next call reconnects
        assert storage.tokens.get("h2") == _token("h2")
    finally:
        storage.close()


@pytest.mark.postgres
@pytest.mark.skipif(PG_SKIP is not None, reason=PG_SKIP or "")
def test_unreachable_database_answers_503_until_it_is_back(url: str, tmp_path: Path) -> None:
    storage = _storage(url)
    name = make_url(url).database
    try:
        with in_process_server(storage, tmp_path) as srv, srv.client() as http:
            services_secret = {c.client_id: c.client_secret for c in ensure_demo(srv.services)}
            body = {"grant_type": "client_credentials", "client_id": "bench-client",
                    "client_secret": services_secret["bench-client"], "scope": "data-read"}
            assert http.post(srv.realm_url() + "/access_token", data=body).status_code == 200
            with psycopg.connect(ADMIN, autocommit=True) as admin:
                admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
                try:
                    assert _terminate_fast_connections(url) >= 1
                    r = http.post(srv.realm_url() + "/access_token", data=body)
                    assert r.status_code == 503, r.text
                    assert r.json()["error"] == "temporarily_unavailable"
                    assert r.headers["retry-after"] == "1" and r.headers["cache-control"] == "no-store"
                finally:
                    admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            assert http.post(srv.realm_url() + "/access_token", data=body).status_code == 200
    finally:
        storage.close()


@pytest.mark.postgres
@pytest.mark.skipif(PG_SKIP is not None, reason=PG_SKIP or "")
def test_awaited_reads_and_commits_follow_other_writers_and_a_dropped_connection_fails_once(url: str) -> None:
    """The requests' counter reads and their batches' commits travel on the event loop, on connections of
    their own: a read sees another connection's commit, a batch is all or nothing, a dropped connection
    answers 503 once, and the next call connects again."""
    one, two = _storage(url), _storage(url)

    async def reads() -> None:
        start = await one.counters_awaited()
        assert start == one.counters()
        two.clients.create(Client(realm="r", client_id="a"))
        two.clients.update(Client(realm="r", client_id="a", name="renamed"))
        two.tokens.add(_token("h1"))
        assert two.tokens.delete("h1")
        assert await one.counters_awaited() == (start[0] + 1, start[1] + 1)
        assert _terminate_fast_connections(url) >= 1
        with pytest.raises(StorageUnavailable):
            await one.counters_awaited()
        assert await one.counters_awaited() == (start[0] + 1, start[1] + 1)  # connected again
        writes = one.awaited_writes
        assert writes is not None
        await writes.add_tokens([_token("h2"), _token("h3")], [])  # a batch's commit, awaited on the loop
        assert two.tokens.get("h3") == _token("h3")
        with pytest.raises(Conflict):
            await writes.add_tokens([_token("h4"), _token("h2")], [])  # all or nothing
        assert two.tokens.get("h4") is None
        assert _terminate_fast_connections(url) >= 1
        with pytest.raises(StorageUnavailable):  # a write is not retried: its COMMIT may have been applied
            await writes.add_tokens([_token("h5")], [])
        await writes.add_tokens([_token("h5")], [])  # the next one connects again
        assert two.tokens.get("h5") == _token("h5")

    try:
        run_async(reads())
    finally:
        one.close()
        two.close()


@pytest.mark.postgres
@pytest.mark.skipif(PG_SKIP is not None, reason=PG_SKIP or "")
def test_a_loop_opens_at_most_its_limit_of_connections(url: str) -> None:
    """Many awaited calls at once on one event loop share at most MAX_LOOP_CONNECTIONS connections: the
    others wait for one to be given back instead of opening (and closing) one each."""
    storage = _storage(url)

    async def many() -> None:
        writes = storage.awaited_writes
        assert writes is not None
        await asyncio.gather(*(writes.add_tokens([_token(f"m{n}")], []) for n in range(40)))
        assert 1 <= _fast_connections(url) <= MAX_LOOP_CONNECTIONS

    try:
        run_async(many())
        assert all(storage.tokens.get(f"m{n}") is not None for n in range(40))
    finally:
        storage.close()


def _aborting_once(real: Any, calls: list[str], *, awaited: bool) -> Any:
    """`real` (the statements of a transaction), but the first time in pipeline mode a statement fails
    first and its error is passed over, so psycopg answers the statements after it with a genuine
    PipelineAborted instead of that error: what concurrent conflicting writes were seen to cause."""
    if awaited:
        async def run_async_(conn: Any, statements: Any) -> None:
            if not calls and conn.conn.pgconn.pipeline_status:
                calls.append("aborted")
                with pytest.raises(psycopg.errors.DivisionByZero):
                    await conn.cur.execute("SELECT 1 / 0")
                    await conn.cur.fetchone()
            else:
                calls.append("plain" if not conn.conn.pgconn.pipeline_status else "pipeline")
            await real(conn, statements)
        return run_async_

    def run(conn: Any, statements: Any) -> None:
        if not calls and conn.pgconn.pipeline_status:
            calls.append("aborted")
            with pytest.raises(psycopg.errors.DivisionByZero):
                conn.cur.execute("SELECT 1 / 0").fetchone()
        else:
            calls.append("plain" if not conn.pgconn.pipeline_status else "pipeline")
        real(conn, statements)
    return run


@pytest.mark.postgres
@pytest.mark.skipif(PG_SKIP is not None, reason=PG_SKIP or "")
@pytest.mark.parametrize("awaited", [False, True])
def test_a_pipeline_aborted_without_its_error_is_sent_again_plainly(url: str, monkeypatch: pytest.MonkeyPatch,
                                                                     awaited: bool) -> None:
    """A registration batch with burns goes in pipeline mode; when psycopg answers PipelineAborted instead
    of a statement's own error, the batch is not a 503: the same transaction goes again without the
    pipeline, and each registration gets its own outcome (the duplicate a conflict, the others stored)."""
    from credo.storage.sql import fast_pg

    storage = _storage(url)
    calls: list[str] = []
    if awaited:
        monkeypatch.setattr(fast_pg._AsyncConnection, "execute_all", _aborting_once(
            fast_pg._AsyncConnection.execute_all, calls, awaited=True))
    else:
        monkeypatch.setattr(fast_pg, "_execute_all", _aborting_once(fast_pg._execute_all, calls, awaited=False))
    try:
        storage.clients.create(Client(realm="r", client_id="b"))
        new = [NewClient(Client(realm="r", client_id=c), burn=(f"iat:{c}", 10**10)) for c in "abc"]
        if awaited:
            assert storage.awaited_writes is not None
            outcomes = run_async(storage.awaited_writes.create_clients(new))
        else:
            outcomes = storage.clients.create_many(new)
        assert [type(o) for o in outcomes] == [type(None), Conflict, type(None)]
        assert calls[:2] == ["aborted", "plain"]  # the aborted pipeline, then the same statements plainly
        assert {c.client_id for c in storage.clients.all("r")} == {"a", "b", "c"}
    finally:
        storage.close()
