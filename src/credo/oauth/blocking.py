"""The one boundary between the event loop and work that can block: argon2 verifications of
human-chosen secrets and passwords, DCR scripts, and outbound fetches (remote key sets).

`Blocking.run(fn, *args)` runs `fn` on a small pool of threads and lets the event loop serve other
requests meanwhile. The pool is bounded (`max_workers`): a flood of such work queues behind it instead
of starving the server, and every other request (discovery, client credentials with a generated
secret, introspection) keeps being answered. Everything else in the core runs on the event loop: it
is CPU-light (HMAC, ECDSA, a cached record) or a storage call on the hot path's own fast connections.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

DEFAULT_WORKERS = 4


class Blocking:
    def __init__(self, max_workers: int = DEFAULT_WORKERS) -> None:
        self.max_workers = max_workers
        self._pool: ThreadPoolExecutor | None = None  # started on first use (most processes never need it)

    async def run(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.max_workers, thread_name_prefix="credo-blocking")
        return await asyncio.get_running_loop().run_in_executor(self._pool, lambda: fn(*args, **kwargs))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
