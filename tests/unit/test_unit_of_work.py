"""The unit of work on its own: each unit all or nothing, a conflict undoes its unit only (its audit
event too), and what the core hands it is stored only when committed."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import pytest

from credo.domain.models import AuditEvent, Client, TokenRecord
from credo.storage.memory import MemoryStorage
from credo.storage.protocols import Conflict
from credo.storage.unit_of_work import COMMITS_AT_ONCE, GroupCommitter, NotStored, UnitOfWork, commit_units
from tests.support import make_storage, run_async


def _event(target: str) -> AuditEvent:
    return AuditEvent(realm="alpha", action="dcr.register", actor="anonymous", target=target, ts=1)


def _token(n: int) -> TokenRecord:
    return TokenRecord(token_hash=f"h{n}", realm="alpha", jti=f"j{n}", kind="access_token", client_id="c", sub="c",
                       scopes=(), issued_at=1, expires_at=2_000_000_000, claims={})


def _registration(client_id: str, burn: str | None = None, *, token: int | None = None) -> UnitOfWork:
    work = UnitOfWork()
    work.create_client(Client("alpha", client_id), burn=None if burn is None else (burn, 2_000_000_000))
    work.audit(_event(client_id))
    if token is not None:
        work.add_token(_token(token))
    return work


def test_a_conflict_undoes_its_unit_only() -> None:
    storage = MemoryStorage()
    plain = UnitOfWork()
    plain.add_token(_token(1))
    plain.audit(_event("plain"))
    units = [_registration("a", "iat"), _registration("b", "iat"), plain]
    outcomes = commit_units(storage, units)  # type: ignore[arg-type]
    assert outcomes[0] is None and isinstance(outcomes[1], Conflict) and outcomes[2] is None
    assert storage.clients.get("alpha", "a") is not None and storage.clients.get("alpha", "b") is None
    assert storage.tokens.get("h1") is not None
    assert sorted(e.target for e in storage.audit.query("alpha")) == ["a", "plain"]


def test_nothing_is_stored_before_the_commit_and_an_empty_unit_costs_nothing() -> None:
    storage = MemoryStorage()
    group = GroupCommitter(storage)  # type: ignore[arg-type]
    work = _registration("a")
    assert storage.clients.get("alpha", "a") is None

    async def run() -> None:
        assert await group.commit(UnitOfWork()) is None
        assert await group.commit(work) is None
    run_async(run())
    assert storage.clients.get("alpha", "a") is not None
    assert [e.target for e in storage.audit.query("alpha")] == ["a"]


def test_one_client_and_its_one_event_per_unit() -> None:
    work = _registration("a")
    with pytest.raises(ValueError, match="one new client"):
        work.create_client(Client("alpha", "b"))
    work.audit(_event("again"))
    with pytest.raises(ValueError, match="at most its one audit event"):
        commit_units(MemoryStorage(), [work])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no token"):
        commit_units(MemoryStorage(), [_registration("c", token=1)])  # type: ignore[arg-type]


def test_on_postgresql_a_unit_whose_event_is_refused_keeps_none_of_its_tokens(tmp_path: Path) -> None:
    """A batch's tokens and audit events are one transaction: an event the database refuses (an action
    longer than its column) undoes its unit's token too, while the other unit is stored whole."""
    with make_storage("postgresql", tmp_path) as storage:
        good, bad = UnitOfWork(), UnitOfWork()
        good.add_token(_token(1))
        good.audit(_event("good"))
        bad.add_token(_token(2))
        bad.audit(AuditEvent(realm="alpha", action="x" * 65, actor="anonymous", target="bad", ts=1))
        outcomes = commit_units(storage, [good, bad])
        assert outcomes[0] is None and isinstance(outcomes[1], NotStored)
        assert storage.tokens.get("h1") is not None and storage.tokens.get("h2") is None
        assert [e.target for e in storage.audit.query("alpha")] == ["good"]


class _SlowCommits(MemoryStorage):
    """A storage whose commits are awaited and wait like a database server's log flush (held by a gate the
    test opens), so that the group commit awaits them on the loop; it records the units of each token
    commit and stores them in memory."""

    counter_round_trip = True

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.commits: list[int] = []
        self.awaited_writes = self  # type: ignore[assignment]

    async def add_tokens(self, records: list[TokenRecord], audit: Sequence[AuditEvent]) -> None:
        await self.gate.wait()
        self.commits.append(len(records))
        self.tokens.add_many(records, audit=audit)


def test_batches_waiting_for_busy_commits_commit_together() -> None:
    storage = _SlowCommits()
    group = GroupCommitter(storage)  # type: ignore[arg-type]

    async def main() -> list[int]:
        def unit(n: int) -> UnitOfWork:
            work = UnitOfWork()
            work.add_token(_token(n))
            return work
        first = []
        for n in range(COMMITS_AT_ONCE):  # one batch per loop step: each is a commit under way
            first.append(asyncio.ensure_future(group.commit(unit(n))))
            await asyncio.sleep(0.01)
        assert not any(task.done() for task in first)
        later = []
        for n in range(COMMITS_AT_ONCE, COMMITS_AT_ONCE + 3):  # three more steps while every commit is busy
            later.append(asyncio.ensure_future(group.commit(unit(n))))
            await asyncio.sleep(0.01)
        assert not any(task.done() for task in later)
        storage.gate.set()
        await asyncio.gather(*first, *later)
        return storage.commits

    commits = run_async(main())
    # Without waiting together a batch per step (one unit each) would have been committed on its own.
    assert sorted(commits) == [1] * (len(commits) - 1) + [3] and sum(commits) == COMMITS_AT_ONCE + 3
    assert all(storage.tokens.get(f"h{n}") is not None for n in range(COMMITS_AT_ONCE + 3))


def test_a_request_cancelled_while_an_awaited_commit_runs_stops_only_its_own_wait() -> None:
    """Two requests of one step wait for their batch's awaited commit; one is cancelled (its client went
    away): the commit goes on, the other request gets its answer, and both units are stored."""
    storage = _SlowCommits()
    group = GroupCommitter(storage)  # type: ignore[arg-type]

    async def main() -> None:
        units = []
        for n in (1, 2):
            work = UnitOfWork()
            work.add_token(_token(n))
            units.append(asyncio.ensure_future(group.commit(work)))
        for _ in range(3):
            await asyncio.sleep(0)  # both joined the batch; its commit waits at the gate
        units[0].cancel()
        await asyncio.sleep(0)
        assert units[0].cancelled() and not units[1].done()
        storage.gate.set()
        assert await units[1] is None

    run_async(main())
    assert storage.commits == [2]
    assert storage.tokens.get("h1") is not None and storage.tokens.get("h2") is not None
