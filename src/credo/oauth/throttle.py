"""Throttling of failed client authentication, per (realm, client_id, source address).

After `limit` failures within `window` seconds, further attempts for that key are refused with
`too_many_requests` (HTTP 429, Retry-After) until the oldest failure leaves the window, whether or not
the new attempt carries the right secret. Counting is in-process: each server process (worker) keeps
its own counters, so with N workers an attacker gets at most N x limit guesses per window. Memory is
bounded: at most `max_keys` keys are tracked, the least recently failed key is dropped first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque

from credo.domain.errors import TooManyRequests
from credo.keys.clock import Clock

ThrottleKey = tuple[str, str, str]


class FailureThrottle:
    def __init__(self, clock: Clock, *, limit: int = 10, window: int = 60, max_keys: int = 100_000) -> None:
        if limit < 1 or window < 1 or max_keys < 1:
            raise ValueError("limit, window and max_keys must be positive")
        self._clock = clock
        self.limit = limit
        self.window = window
        self._max_keys = max_keys
        self._failures: OrderedDict[ThrottleKey, deque[int]] = OrderedDict()
        self._lock = threading.Lock()

    def check(self, key: ThrottleKey) -> None:
        """Raise TooManyRequests if the key has used up its failures in the current window."""
        now = self._clock.now()
        with self._lock:
            times = self._failures.get(key)
            if times is None:
                return
            self._expire(times, now)
            if len(times) >= self.limit:
                raise TooManyRequests(f"client authentication throttled for {key[1]!r}",
                                      retry_after=max(1, times[0] + self.window - now))
            if not times:
                del self._failures[key]

    def failed(self, key: ThrottleKey) -> None:
        now = self._clock.now()
        with self._lock:
            times = self._failures.pop(key, None) or deque(maxlen=self.limit)
            self._expire(times, now)
            times.append(now)
            self._failures[key] = times
            while len(self._failures) > self._max_keys:
                self._failures.popitem(last=False)

    def __len__(self) -> int:
        return len(self._failures)

    def _expire(self, times: deque[int], now: int) -> None:
        while times and times[0] <= now - self.window:
            times.popleft()
