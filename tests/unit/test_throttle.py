"""The failed-authentication throttle, driven by a FrozenClock."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from credo.domain.clock import FrozenClock
from credo.domain.errors import TooManyRequests
from credo.keys.secrets import SecretHasher
from credo.oauth.throttle import DIGESTS_KEPT, FailureThrottle, auth_throttle
from credo.storage.memory import MemoryStorage
from credo.storage.protocols import FailureLog

KEY = ("alpha", "c1", "10.0.0.1")


def test_blocks_after_limit_within_window_and_reopens() -> None:
    clock = FrozenClock()
    t = FailureThrottle(clock, limit=3, window=60)
    for _ in range(3):
        t.check(KEY)
        t.failed(KEY)
        clock.advance(10)
    with pytest.raises(TooManyRequests) as err:
        t.check(KEY)
    assert err.value.retry_after == 30  # the first failure (t=0) leaves the window at t=60; now t=30
    assert err.value.status == 429 and err.value.error == "too_many_requests"
    clock.advance(29)
    with pytest.raises(TooManyRequests):
        t.check(KEY)
    clock.advance(1)
    t.check(KEY)  # one failure left the window: one more attempt is allowed
    t.failed(KEY)
    with pytest.raises(TooManyRequests):
        t.check(KEY)


def test_keys_are_independent() -> None:
    clock = FrozenClock()
    t = FailureThrottle(clock, limit=2, window=60)
    t.failed(KEY)
    t.failed(KEY)
    with pytest.raises(TooManyRequests):
        t.check(KEY)
    t.check(("alpha", "c1", "10.0.0.2"))
    t.check(("alpha", "c2", "10.0.0.1"))
    t.check(("bravo", "c1", "10.0.0.1"))


def test_memory_is_bounded() -> None:
    clock = FrozenClock()
    t = FailureThrottle(clock, limit=2, window=60, max_keys=100)
    for i in range(1000):
        t.failed(("alpha", f"c{i}", "ip"))
    assert len(t) == 100
    t.failed(("alpha", "c999", "ip"))
    with pytest.raises(TooManyRequests):
        t.check(("alpha", "c999", "ip"))  # the most recent keys are the ones kept


def test_expired_entries_are_dropped_on_check() -> None:
    clock = FrozenClock()
    t = FailureThrottle(clock, limit=5, window=60)
    t.failed(KEY)
    clock.advance(61)
    t.check(KEY)
    assert len(t) == 0


@pytest.mark.parametrize("kw", [{"limit": 0}, {"window": 0}, {"max_keys": 0}])
def test_refuses_nonsense_settings(kw: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        FailureThrottle(FrozenClock(), **kw)


# --- shared through a FailureLog (several processes on one database) --------------------------------

class CountingLog:
    """A real log (MemoryStorage's) that counts the calls made to it."""

    def __init__(self, log: FailureLog) -> None:
        self.log = log
        self.calls: list[str] = []

    def add(self, key: str, at: int, expires_at: int) -> int:
        self.calls.append("add")
        return self.log.add(key, at, expires_at)

    def recent(self, key: str, since: int, limit: int) -> list[int]:
        self.calls.append("recent")
        return self.log.recent(key, since, limit)

    def newer(self, after_id: int, now: int, limit: int) -> list[tuple[int, str, int]]:
        self.calls.append("newer")
        return self.log.newer(after_id, now, limit)

    def purge_expired(self, now: int) -> int:
        self.calls.append("purge")
        return self.log.purge_expired(now)


def _digest(text: str) -> str:
    return SecretHasher(b"p" * 32).keyed_hash(text)


def _pair(clock: FrozenClock, log: FailureLog, interval: float = 0.0, limit: int = 3) -> tuple[FailureThrottle, ...]:
    return tuple(FailureThrottle(clock, limit=limit, window=60, log=log, digest=_digest, sync_interval=interval)
                 for _ in range(2))


def test_failures_in_one_process_count_in_another() -> None:
    clock = FrozenClock()
    one, two = _pair(clock, MemoryStorage().ephemeral)
    one.failed(KEY)
    two.failed(KEY)
    clock.advance(10)
    one.check(KEY)
    two.check(KEY)
    one.failed(KEY)  # three failures in all: both refuse, though neither saw three itself
    for throttle in (one, two):
        with pytest.raises(TooManyRequests) as err:
            throttle.check(KEY)
        assert err.value.retry_after == 50  # the first failure (t=0) leaves the window at t=60; now t=10
    two.check(("alpha", "c1", "10.0.0.2"))  # other keys are not affected
    clock.advance(50)
    one.check(KEY)
    two.check(KEY)


def test_a_new_process_learns_the_failures_at_its_first_check() -> None:
    clock = FrozenClock()
    log = MemoryStorage().ephemeral
    one, _ = _pair(clock, log)
    for _ in range(3):
        one.failed(KEY)
    fresh = FailureThrottle(clock, limit=3, window=60, log=log, digest=_digest, sync_interval=3600)
    with pytest.raises(TooManyRequests):
        fresh.check(KEY)


def test_between_syncs_a_process_learns_a_key_by_its_own_failure() -> None:
    clock = FrozenClock()
    log = CountingLog(MemoryStorage().ephemeral)
    one = FailureThrottle(clock, limit=3, window=60, log=log, digest=_digest)
    late = FailureThrottle(clock, limit=3, window=60, log=log, digest=_digest, sync_interval=3600)
    late.check(KEY)  # synced now, next sync in an hour
    one.failed(KEY)
    one.failed(KEY)
    late.check(KEY)  # it has not read the log since: the key is unknown to it (the documented gap)
    late.failed(KEY)  # its own failure makes the key known, and the shared count applies at once
    with pytest.raises(TooManyRequests):
        late.check(KEY)


def test_success_costs_no_log_access_and_a_refused_key_no_reads() -> None:
    clock = FrozenClock()
    log = CountingLog(MemoryStorage().ephemeral)
    one = FailureThrottle(clock, limit=3, window=60, log=log, digest=_digest, sync_interval=3600)
    one.check(KEY)
    assert log.calls == ["newer"]  # the first sync
    for _ in range(100):
        one.check(KEY)
        one.check(("alpha", "c2", "10.0.0.1"))
    assert log.calls == ["newer"]
    one.failed(KEY)
    assert log.calls == ["newer", "add", "purge"]
    one.check(("alpha", "c2", "10.0.0.1"))  # a key without failures: still no read
    one.check(KEY)  # a key with failures: checked against the shared count
    assert log.calls[3:] == ["recent"]
    other = FailureThrottle(clock, limit=3, window=60, log=log, digest=_digest, sync_interval=3600)
    other.failed(KEY)
    other.failed(KEY)
    del log.calls[:]
    with pytest.raises(TooManyRequests):
        one.check(KEY)
    assert log.calls == ["recent"]
    for _ in range(5):
        with pytest.raises(TooManyRequests):
            one.check(KEY)  # refused from memory until the window frees a slot
    assert log.calls == ["recent"]


def test_the_log_holds_no_identity_or_address_and_is_purged() -> None:
    clock = FrozenClock()
    log = MemoryStorage().ephemeral
    auth = FailureThrottle(clock, limit=3, window=60, log=log, digest=_digest, name="auth")
    login = FailureThrottle(clock, limit=3, window=60, log=log, digest=_digest, name="login")
    auth.failed(("alpha", "alice", "10.0.0.1"))
    login.failed(("alpha", "alice", "10.0.0.1"))
    rows = log.newer(0, clock.now(), 10)
    assert len(rows) == 2 and rows[0][1] != rows[1][1]  # the two throttles count separately
    for _, key, _ in rows:
        assert len(key) == 64 and "alice" not in key and "10.0.0.1" not in key
    clock.advance(60)
    auth.failed(("alpha", "bob", "10.0.0.1"))  # once a window, a failure purges expired rows
    assert [k for _, k, _ in log.newer(0, clock.now(), 10)] == [auth._key(("alpha", "bob", "10.0.0.1"))]


def test_a_shared_log_needs_a_digest() -> None:
    with pytest.raises(ValueError):
        FailureThrottle(FrozenClock(), log=MemoryStorage().ephemeral)


def test_remembered_digests_are_bounded_and_still_right() -> None:
    clock = FrozenClock()
    calls: list[str] = []

    def digest(text: str) -> str:
        calls.append(text)
        return _digest(text)

    log = MemoryStorage().ephemeral
    t = FailureThrottle(clock, limit=2, window=60, log=log, digest=digest)
    t.failed(KEY)
    for i in range(DIGESTS_KEPT + 10):
        t.check(("alpha", f"c{i}", "ip"))
    assert len(t._digests) <= DIGESTS_KEPT
    t.failed(KEY)  # its digest was forgotten on the way: computed again, and the same
    assert calls.count(calls[0]) == 2
    with pytest.raises(TooManyRequests):
        t.check(KEY)


def test_identity_count_spans_addresses_and_leaves_other_identities_alone() -> None:
    from credo.oauth.throttle import auth_throttle

    clock = FrozenClock()
    t = auth_throttle(clock, limit=3, identity_limit=5, window=60)
    for i in range(5):  # one failure from each of five addresses
        key = ("alpha", "c1", f"10.0.0.{i}")
        t.check(key)
        t.failed(key)
    with pytest.raises(TooManyRequests):
        t.check(("alpha", "c1", "10.9.9.9"))  # a new address: the identity is over its own limit
    t.check(("alpha", "c2", "10.0.0.1"))  # another identity from an address that failed is not refused
    t.check(("beta", "c1", "10.0.0.1"))  # nor the same name in another realm
    clock.advance(60)
    t.check(("alpha", "c1", "10.9.9.9"))  # the window frees the identity


def test_one_address_is_refused_before_the_identity() -> None:
    from credo.oauth.throttle import auth_throttle

    clock = FrozenClock()
    t = auth_throttle(clock, limit=3, identity_limit=5, window=60)
    key = ("alpha", "c1", "10.0.0.1")
    for _ in range(3):
        t.check(key)
        t.failed(key)
    with pytest.raises(TooManyRequests):
        t.check(key)
    t.check(("alpha", "c1", "10.0.0.2"))  # three failures: the identity still answers elsewhere


class _InterleavingClock(FrozenClock):
    """A clock that, once armed, runs one other thread's step at its next reading: the failure being
    recorded reads the clock first, so the step runs exactly between a refused check and its record."""

    def __init__(self) -> None:
        super().__init__()
        self.step: Callable[[], None] | None = None

    def now(self) -> int:
        step, self.step = self.step, None
        if step is not None:
            step()
        return super().now()


def test_a_refused_attempt_is_never_released_before_its_failure_is_recorded() -> None:
    clock = _InterleavingClock()
    throttle = auth_throttle(clock, limit=1, identity_limit=5)
    seen: list[str] = []

    def concurrent_guess() -> None:
        try:
            throttle.per_source.reserve(KEY)
            seen.append("admitted")
        except TooManyRequests:
            seen.append("refused")

    with pytest.raises(ValueError), throttle.attempt(KEY, ValueError):
        clock.step = concurrent_guess
        raise ValueError("wrong password")
    assert seen == ["refused"]  # the guess came while the failure was being recorded: held, or failed
    with pytest.raises(TooManyRequests):
        throttle.check(KEY)
