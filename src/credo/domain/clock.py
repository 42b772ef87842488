"""Injected time, so expiry and rotation are testable without sleeping."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> int: ...


class SystemClock:
    def now(self) -> int:
        return int(time.time())


class FrozenClock:
    """A clock for tests: it moves only when told."""

    def __init__(self, start: int = 1_700_000_000) -> None:
        self.t = start

    def now(self) -> int:
        return self.t

    def advance(self, seconds: int) -> None:
        self.t += seconds
