"""The token endpoint's writes are group-committed: many concurrent exchanges (allowed and denied) over
real HTTP each leave exactly one audit record, and many concurrent opaque tokens are each stored, all
committed before the answer; a failed commit fails the requests of its batch with 503 instead of
answering unaudited or with a token that was not stored."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from credo.domain.models import AuditEvent, TokenRecord
from credo.storage.protocols import Storage, StorageUnavailable
from credo.storage.unit_of_work import GroupCommitter, UnitOfWork
from tests.conftest import SQL_BACKENDS
from tests.factories import autonomous_setup, exchange
from tests.support import Server, make_storage

APP = "access-log-api"
T = TypeVar("T")


def _exchanges(server: Server, n: int) -> list[httpx.Response]:
    agent, _ = autonomous_setup(server.services)
    base = server.realm_url("alpha")
    with server.client() as http:
        own = http.post(f"{base}/access_token", data={"grant_type": "client_credentials", **agent.auth}).json()
    def one(i: int) -> httpx.Response:
        with server.client() as http:  # one connection per request: the server handles them concurrently
            return exchange(http, base, agent, own["access_token"], APP if i % 3 else "no-such-app", "logs-read")
    with ThreadPoolExecutor(16) as pool:
        return list(pool.map(one, range(n)))


def test_every_concurrent_exchange_is_audited_once(server: Server, demo: dict[str, str]) -> None:
    responses = _exchanges(server, 60)
    allowed = [r for r in responses if r.status_code == 200]
    denied = [r for r in responses if r.status_code != 200]
    assert len(allowed) == 40 and len(denied) == 20
    assert {(r.status_code, r.json()["error"]) for r in denied} == {(400, "invalid_target")}
    events = server.services.storage.audit.query("alpha", action="token_exchange", limit=1000)
    assert sum(e.decision == "allow" for e in events) == 40
    assert sum(e.decision == "deny" for e in events) == 20
    assert all(e.ts > 0 and e.actor == "bot-traffic-analyzer" for e in events)


def test_every_concurrent_opaque_token_is_stored_and_introspects(server: Server, demo: dict[str, str]) -> None:
    """Every token of a concurrent burst is stored and active. Over HTTP this cannot tell a commit before
    the answer from one just after it; test_one_transaction_before_any_request_of_the_batch_answers does."""
    base = server.realm_url("alpha")
    form = {"grant_type": "client_credentials", "client_id": "demo-client", "client_secret": demo["demo-client"],
            "scope": "data-read"}

    def one(_: int) -> tuple[str, bool]:
        with server.client() as http:  # one connection per request: the server handles them concurrently
            token = http.post(f"{base}/access_token", data=form).json()["access_token"]
            # the next request, on another connection, reads it from the database
            active = http.post(f"{base}/introspect", data={"token": token, "client_id": "demo-client",
                                                           "client_secret": demo["demo-client"]}).json()["active"]
            return token, active

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(one, range(48)))
    assert len({token for token, _ in results}) == 48
    assert all(active is True for _, active in results)
    stored = [server.services.storage.tokens.get(server.services.hasher.keyed_hash(t)) for t, _ in results]
    assert all(r is not None and r.client_id == "demo-client" for r in stored)


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """asyncio.run on a thread of its own (another test may have left this thread's loop running)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _event(n: int) -> AuditEvent:
    return AuditEvent(realm="alpha", action="token_exchange", actor=f"agent-{n}", decision="allow", target="app",
                      reason="autonomous", details={"n": n}, ts=1_700_000_000 + n)


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_one_batch_per_loop_step(kind: str, tmp_path: Path) -> None:
    with make_storage(kind, tmp_path) as storage:
        async def run() -> None:
            group = GroupCommitter(storage)
            sinks = [UnitOfWork() for _ in range(5)]
            for i, sink in enumerate(sinks):
                sink.audit(_event(i))
            assert storage.audit.query("alpha") == []  # nothing before the next loop step
            await asyncio.gather(*(group.commit(s) for s in sinks))
            assert await group.commit(UnitOfWork()) is None  # a request without writes does not wait
        _run(run())
        assert sorted(e.actor for e in storage.audit.query("alpha")) == [f"agent-{i}" for i in range(5)]


def _record(n: int) -> TokenRecord:
    return TokenRecord(token_hash=f"hash-{n}", realm="alpha", jti=f"jti-{n}", kind="access_token", client_id="c",
                       sub="c", scopes=("s",), issued_at=1, expires_at=2_000_000_000, claims={"n": n})


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_tokens_and_events_of_one_step_commit_together(kind: str, tmp_path: Path) -> None:
    with make_storage(kind, tmp_path) as storage:
        async def run() -> None:
            group = GroupCommitter(storage)
            sinks = [UnitOfWork() for _ in range(4)]
            for i, sink in enumerate(sinks):
                sink.add_token(_record(i))
                if i % 2:
                    sink.audit(_event(i))
            assert storage.tokens.get("hash-0") is None  # nothing before the next loop step
            await asyncio.gather(*(group.commit(s) for s in sinks))
        _run(run())
        assert [storage.tokens.get(f"hash-{i}") for i in range(4)] == [_record(i) for i in range(4)]
        assert sorted(e.actor for e in storage.audit.query("alpha")) == ["agent-1", "agent-3"]


@pytest.mark.parametrize("kind", SQL_BACKENDS)
def test_a_unit_whose_rows_cannot_be_stored_fails_alone(kind: str, tmp_path: Path) -> None:
    """One request's token collides with a stored one: the batch step is retried unit by unit, so only
    that request fails (503), and the others of its batch are stored and answer."""
    with make_storage(kind, tmp_path) as storage:
        storage.tokens.add(_record(9))

        async def run() -> list[BaseException | None]:
            group = GroupCommitter(storage)
            sinks = [UnitOfWork() for _ in range(3)]
            for i, sink in enumerate(sinks):
                sink.add_token(_record(9 if i == 2 else i))  # the last one collides
                sink.audit(_event(i))
            return await asyncio.gather(*(group.commit(s) for s in sinks), return_exceptions=True)

        outcomes = _run(run())
        assert outcomes[:2] == [None, None]
        assert isinstance(outcomes[2], StorageUnavailable)  # the edge answers 503 to that request only
        assert storage.tokens.get("hash-0") == _record(0) and storage.tokens.get("hash-1") == _record(1)
        assert sorted(e.actor for e in storage.audit.query("alpha")) == ["agent-0", "agent-1"]  # none for the failed one


def test_one_transaction_before_any_request_of_the_batch_answers(tmp_path: Path) -> None:
    """commit() yields once; the first request to resume commits the whole batch, in one transaction,
    and no request of the batch returns before that commit."""
    with make_storage("sqlite", tmp_path) as storage:
        statements: list[str] = []

        async def run() -> list[int]:
            fast = storage.fast  # type: ignore[attr-defined]
            fast.counters()  # opens this thread's connection, which commits the rows
            fast._local.conn.set_trace_callback(statements.append)
            group = GroupCommitter(storage)
            sinks = [UnitOfWork() for _ in range(3)]
            seen: list[int] = []

            async def answer(i: int) -> None:
                sinks[i].audit(_event(i))
                await group.commit(sinks[i])
                seen.append(len(storage.audit.query("alpha")))  # what is durable when it answers

            await asyncio.gather(*(answer(i) for i in range(3)))
            later = UnitOfWork()  # a request after the commit: a new batch
            later.audit(_event(3))
            await group.commit(later)
            return seen

        assert _run(run()) == [3, 3, 3]
        assert [s.split(" ")[0] for s in statements] == ["BEGIN", "INSERT", "INSERT", "INSERT", "COMMIT", "INSERT"]


def test_a_cancelled_request_still_commits_its_batch(tmp_path: Path) -> None:
    with make_storage("sqlite", tmp_path) as storage:
        async def run() -> None:
            group = GroupCommitter(storage)
            sink = UnitOfWork()
            sink.audit(_event(1))
            sink.add_token(_record(1))
            waiting = asyncio.ensure_future(group.commit(sink))
            await asyncio.sleep(0)  # it now waits in its yield
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
        _run(run())
        assert [e.actor for e in storage.audit.query("alpha")] == ["agent-1"]
        assert storage.tokens.get("hash-1") == _record(1)


def test_failed_commit_fails_every_waiting_request(tmp_path: Path) -> None:
    with make_storage("sqlite", tmp_path) as storage:
        closed: Storage = storage
        closed.close()

        async def run() -> list[BaseException | None]:
            group = GroupCommitter(closed)
            sinks = [UnitOfWork() for _ in range(3)]
            for i, sink in enumerate(sinks):
                sink.audit(_event(i))
            return await asyncio.gather(*(group.commit(s) for s in sinks), return_exceptions=True)

        outcomes = _run(run())
        assert all(isinstance(o, StorageUnavailable) for o in outcomes)
        assert len({id(o) for o in outcomes}) == 3  # a fresh error per request


def test_on_postgresql_the_loop_serves_while_a_batch_commits(tmp_path: Path) -> None:
    """On a database server a commit waits for the log flush (and here for a lock another connection holds):
    it runs on a commit thread, so the event loop goes on serving meanwhile; the request still answers only
    once its commit returned, with its row stored."""
    import threading

    import psycopg

    with make_storage("postgres", tmp_path) as storage:
        url = storage.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)  # type: ignore[attr-defined]
        blocker = psycopg.connect(url)
        blocker.execute("LOCK TABLE audit_events IN ACCESS EXCLUSIVE MODE")  # held until the timer's commit
        threading.Timer(0.5, blocker.commit).start()

        async def run() -> tuple[int, int]:
            group = GroupCommitter(storage)
            ticks = 0
            answered = False

            async def ticker() -> None:
                nonlocal ticks
                while not answered:
                    ticks += 1
                    await asyncio.sleep(0.01)

            async def request() -> int:
                nonlocal answered
                unit = UnitOfWork()
                unit.audit(_event(0))
                await group.commit(unit)
                answered = True
                return len(storage.audit.query("alpha"))

            tick = asyncio.ensure_future(ticker())
            stored = await request()
            await tick
            return ticks, stored

        try:
            ticks, stored = _run(run())
        finally:
            blocker.close()
        assert stored == 1  # committed before it answered
        assert ticks >= 10  # the loop ran the ticker during the half second the commit waited
