"""The registration rate limiter keeps bounded memory without forgetting the keys that keep hitting it."""

from __future__ import annotations

from credo.oauth.throttle import RateLimiter
from credo.storage.memory import MemoryEphemeral

NOW = 1_000_000
VICTIM = ("alpha", "203.0.113.7")


def _limited(limiter: RateLimiter, limit: int) -> None:
    for _ in range(limit):
        assert limiter.hit(VICTIM, limit, NOW) == 0
    assert limiter.hit(VICTIM, limit, NOW) == 60


def test_spraying_many_addresses_does_not_reset_an_active_key() -> None:
    limiter = RateLimiter()  # the production bound of a process without shared state
    state = limiter.state
    assert isinstance(state, MemoryEphemeral)
    max_keys = 100_000
    _limited(limiter, 3)
    for i in range(max_keys + 5_000):
        assert limiter.hit(("alpha", f"spray-{i}"), 3, NOW) == 0
        if i % 10_000 == 0:
            assert limiter.hit(VICTIM, 3, NOW) == 60  # still limited while it keeps trying
    assert limiter.hit(VICTIM, 3, NOW) == 60
    assert len(state) == max_keys


def test_least_recently_hit_keys_are_dropped_first() -> None:
    limiter = RateLimiter(MemoryEphemeral(max_rate_keys=10), digest=str)
    _limited(limiter, 2)
    limiter.hit(("alpha", "idle"), 2, NOW)
    limiter.hit(("alpha", "idle"), 2, NOW)
    for i in range(9):
        limiter.hit(("alpha", f"other-{i}"), 2, NOW)
        assert limiter.hit(VICTIM, 2, NOW) == 60
    assert len(limiter.state) == 10  # type: ignore[arg-type]
    # "idle" was the least recently hit key and is gone: it starts afresh; the victim is still counted.
    assert limiter.hit(("alpha", "idle"), 2, NOW) == 0
    assert limiter.hit(VICTIM, 2, NOW) == 60


def test_the_window_still_slides() -> None:
    limiter = RateLimiter(MemoryEphemeral(max_rate_keys=10), digest=str)
    _limited(limiter, 2)
    assert limiter.hit(VICTIM, 2, NOW + 59) == 1
    assert limiter.hit(VICTIM, 2, NOW + 60) == 0
