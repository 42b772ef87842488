"""The failed-authentication throttle, driven by a FrozenClock."""

from __future__ import annotations

import pytest

from credo.domain.errors import TooManyRequests
from credo.keys.clock import FrozenClock
from credo.oauth.throttle import FailureThrottle

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
