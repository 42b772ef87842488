"""Registrations are group-committed: the new clients of one event-loop step are stored with one commit,
each answered only after it; a conflict fails only its own registration, a failed commit every one of
its batch."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from credo.domain.models import AuditEvent, Client
from credo.storage.protocols import Conflict, NewClient, Storage, StorageUnavailable
from credo.storage.unit_of_work import GroupCommitter, UnitOfWork
from tests.factories import SEED_BODY, access_token, iat_client, realm_settings
from tests.support import Server, make_storage

T = TypeVar("T")


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """asyncio.run on a thread of its own (another test may have left this thread's loop running)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _new(client_id: str, burn: str | None = None) -> UnitOfWork:
    """One registration's unit of work: the client, the initial access token it burns, its audit event."""
    work = UnitOfWork()
    work.create_client(Client(realm="alpha", client_id=client_id), burn=None if burn is None else (burn, 2_000_000_000))
    work.audit(AuditEvent(realm="alpha", action="dcr.register", actor="anonymous", decision="allow", target=client_id,
                          details={"kind": "client"}, ts=1_700_000_000))
    return work


def _record_batches(storage: Storage, monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The client ids of every write the group commit makes: one list per create_many or create call."""
    batches: list[list[str]] = []
    inside: list[bool] = []  # a create_many may itself call create (MemoryStorage): that is not another write
    create_many, create = storage.clients.create_many, storage.clients.create

    def recording_create_many(new: Sequence[NewClient]) -> list[Conflict | None]:
        batches.append([n.client.client_id for n in new])
        inside.append(True)
        try:
            return create_many(new)
        finally:
            inside.pop()

    def recording_create(client: Client, **kw: Any) -> None:
        if not inside:
            batches.append([client.client_id])
        create(client, **kw)

    monkeypatch.setattr(storage.clients, "create_many", recording_create_many)
    monkeypatch.setattr(storage.clients, "create", recording_create)
    return batches


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_one_batch_per_loop_step_and_a_conflict_fails_alone(kind: str, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    with make_storage(kind, tmp_path) as storage:
        batches = _record_batches(storage, monkeypatch)

        async def run() -> list[Conflict | None]:
            group = GroupCommitter(storage)
            pending = [asyncio.ensure_future(group.commit(new)) for new in (
                _new("a", burn="iat-1"), _new("b", burn="iat-1"), _new("a"), _new("c"))]
            await asyncio.sleep(0)  # the four requests run to their store call in this step
            assert storage.clients.get("alpha", "a") is None  # nothing before the next loop step
            return await asyncio.gather(*pending)

        outcomes = _run(run())
        assert batches == [["a", "b", "a", "c"]]  # the four stored together, in one create_many call
        assert [o is None for o in outcomes] == [True, False, False, True]
        assert all(isinstance(o, Conflict) for o in outcomes[1:3])
        assert sorted(c.client_id for c in storage.clients.all("alpha")) == ["a", "c"]
        assert sorted(e.target for e in storage.audit.query("alpha", action="dcr.register")) == ["a", "c"]


def test_a_failed_commit_fails_every_waiting_registration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with make_storage("sqlite", tmp_path) as storage:
        storage.close()
        batches = _record_batches(storage, monkeypatch)

        async def run() -> list[BaseException | Conflict | None]:
            group = GroupCommitter(storage)
            return await asyncio.gather(*(group.commit(_new(f"c{i}")) for i in range(3)), return_exceptions=True)

        outcomes = _run(run())
        assert batches == [["c0", "c1", "c2"]]  # one commit attempt for the three
        assert all(isinstance(o, StorageUnavailable) for o in outcomes)
        assert len({id(o) for o in outcomes}) == 3  # a fresh error per request


def _concurrently(n: int, call: Any) -> list[httpx.Response]:
    with ThreadPoolExecutor(16) as pool:
        return list(pool.map(call, range(n)))


def test_concurrent_registrations_each_get_their_own_working_client(server: Server,
                                                                    demo: dict[str, str]) -> None:
    base = server.realm_url()

    def register(i: int) -> httpx.Response:
        with server.client() as http:  # one connection each: the server handles them concurrently
            return http.post(f"{base}/register", json={**SEED_BODY, "client_name": f"c{i}"})

    answers = _concurrently(40, register)
    assert [r.status_code for r in answers] == [201] * 40
    ids = {r.json()["client_id"] for r in answers}
    assert len(ids) == 40
    events = server.services.storage.audit.query("alpha", action="dcr.register", limit=1000)
    assert {e.target for e in events} == ids
    with server.client() as http:
        for r in answers[::8]:
            reg = r.json()
            token = http.post(f"{base}/access_token", data={
                "grant_type": "client_credentials", "client_id": reg["client_id"],
                "client_secret": reg["client_secret"], "scope": "data-read"})
            assert token.status_code == 200, token.text


def test_a_reused_initial_access_token_fails_only_its_own_registrations(server: Server,
                                                                       demo: dict[str, str]) -> None:
    """Registrations with distinct initial access tokens and with one shared token, all at once: every
    distinct token registers its client, the shared one exactly one."""
    base = server.realm_url()
    realm_settings(server.services, allow_open_registration=False)
    cid, secret = iat_client(server.services)
    with server.client() as http:
        tokens = [access_token(http, base, cid, secret) for _ in range(10)]
    shared = tokens[0]

    def register(i: int) -> httpx.Response:
        token = shared if i % 2 else tokens[i // 2]
        with server.client() as http:
            return http.post(f"{base}/register", json=SEED_BODY, headers={"Authorization": f"Bearer {token}"})

    answers = _concurrently(20, register)
    own = [answers[i] for i in range(0, 20, 2)]  # tokens 0..9, token 0 also being the shared one
    shared_use = [answers[i] for i in range(1, 20, 2)]
    statuses = sorted(r.status_code for r in own[1:])
    assert statuses == [201] * 9, [r.text for r in own]
    shared_wins = [r for r in [own[0], *shared_use] if r.status_code == 201]
    assert len(shared_wins) == 1
    refused = [r for r in [own[0], *shared_use] if r.status_code != 201]
    assert {(r.status_code, r.json()["error"]) for r in refused} == {(401, "invalid_token")}
    assert server.services.storage.clients.count("alpha", dynamic=True) == 10
