"""Generation and hashing of client secrets, tokens and registration access tokens.

- Server-generated values carry 256 bits of randomness. Only an HMAC-SHA-256 of them, keyed with a
  server-side pepper, is stored (`h1$...`): a database leak alone reveals nothing usable, and a
  verification costs about a microsecond.
- Secrets chosen by a person (an administrator typing an application's secret) have far less entropy:
  they must be at least 16 characters long and are stored as argon2id (`argon2$...`). After one
  successful slow verification, this process remembers the HMAC of the verified secret in memory (never
  on disk), so later authentications stay fast; the memory entry is dropped when the stored hash changes.
"""

from __future__ import annotations

import hmac
import os
import secrets
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from cachetools import LRUCache

MIN_HUMAN_SECRET_LENGTH = 16
VERIFIED_SECRETS = 100_000  # remembered fast hashes of human secrets (least recently used dropped first)
_argon2 = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)


def new_secret(nbytes: int = 32) -> str:
    """A URL-safe random value with `nbytes * 8` bits of entropy (43 characters for 256 bits)."""
    return secrets.token_urlsafe(nbytes)


class WeakSecret(ValueError):
    pass


class SecretHasher:
    def __init__(self, pepper: bytes) -> None:
        if len(pepper) < 32:
            raise ValueError("the hashing pepper needs at least 32 bytes")
        self._pepper = pepper
        self._verified: LRUCache[str, str] = LRUCache(maxsize=VERIFIED_SECRETS)  # argon2 hash -> HMAC of the secret
        self._lock = threading.Lock()
        self._ahead: dict[str, list[str]] = {}  # HMAC of a value -> argon2 hashes of it made ahead (`ahead`)

    def keyed_hash(self, value: str) -> str:
        """The keyed hash used for tokens and server-generated secrets (hex, 64 characters)."""
        return hmac.digest(self._pepper, value.encode(), "sha256").hex()

    def hash_generated(self, value: str) -> str:
        return "h1$" + self.keyed_hash(value)

    def check_human(self, value: str) -> None:
        """Raise WeakSecret for a chosen secret too weak to store."""
        if len(value) < MIN_HUMAN_SECRET_LENGTH:
            raise WeakSecret(f"a client secret needs at least {MIN_HUMAN_SECRET_LENGTH} characters")

    def hash_human(self, value: str) -> str:
        self.check_human(value)
        return "argon2$" + self._argon2_hash(value)

    def hash_password(self, value: str) -> str:
        """Users' and administrators' passwords (argon2id)."""
        return "argon2$" + self._argon2_hash(value)

    def _argon2_hash(self, value: str) -> str:
        if self._ahead:
            with self._lock:
                made = self._ahead.get(self.keyed_hash(value))
                if made:
                    return made.pop()  # each hash handed out once: two equal values get two salts
        return _argon2.hash(value)

    @contextmanager
    def ahead(self, to_hash: Sequence[str], to_verify: Sequence[tuple[str, str]], *, workers: int | None = None,
              progress: Callable[[int, int], None] | None = None) -> Iterator[None]:
        """Do the argon2 work a batch (an import) will ask for first, on `workers` threads (argon2-cffi
        releases the GIL, so they run in parallel; default: one per CPU this process may use): hashes of
        `to_hash`, handed out by hash_password / hash_human for those values while inside; checks of
        `to_verify` (value, stored hash), remembered as any successful check is. Hashes left unused are
        dropped on leaving; values are kept only as their keyed hash."""
        made: dict[str, list[str]] = {}

        def run(job: tuple[str, str | None]) -> None:
            value, stored = job
            if stored is not None:
                self.verify(value, stored)  # a success is remembered, so the batch's own check is fast
                return
            argon = _argon2.hash(value)
            with self._lock:
                made.setdefault(self.keyed_hash(value), []).append(argon)

        jobs: list[tuple[str, str | None]] = [(v, None) for v in to_hash] + list(to_verify)
        if jobs:
            size = workers or _usable_cpus()
            with ThreadPoolExecutor(max_workers=max(1, min(size, len(jobs))), thread_name_prefix="argon2") as pool:
                for done, _ in enumerate(pool.map(run, jobs), 1):
                    if progress is not None:
                        progress(done, len(jobs))
        with self._lock:
            for key, hashes in made.items():
                self._ahead.setdefault(key, []).extend(hashes)
        try:
            yield
        finally:
            with self._lock:
                for key, hashes in made.items():
                    left = [h for h in self._ahead.get(key, []) if h not in hashes]
                    if left:
                        self._ahead[key] = left
                    else:
                        self._ahead.pop(key, None)

    def is_slow(self, stored: str | None) -> bool:
        """Whether verifying against `stored` can take milliseconds (argon2id)."""
        return stored is not None and stored.startswith("argon2$")

    def verify(self, value: str, stored: str | None) -> bool:
        """Constant-time comparison against a stored hash of either kind."""
        if not stored or not value:
            return False
        if stored.startswith("h1$"):
            return hmac.compare_digest(stored[3:], self.keyed_hash(value))
        if stored.startswith("argon2$"):
            return self._verify_slow(value, stored[7:])
        return False

    def remembered(self, value: str, stored: str | None) -> bool:
        """Whether `value` is a human-chosen secret verified against `stored` (argon2) before, so that
        checking it again is an HMAC comparison that does not wait (constant time)."""
        if not value or stored is None or not stored.startswith("argon2$"):
            return False
        with self._lock:
            remembered = self._verified.get(stored[7:])
        return remembered is not None and hmac.compare_digest(remembered, self.keyed_hash(value))

    def _verify_slow(self, value: str, argon_hash: str) -> bool:
        fast = self.keyed_hash(value)
        with self._lock:
            remembered = self._verified.get(argon_hash)
        if remembered is not None and hmac.compare_digest(remembered, fast):
            return True
        try:
            _argon2.verify(argon_hash, value)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        with self._lock:
            self._verified[argon_hash] = fast
        return True


def _usable_cpus() -> int:
    """The CPUs this process may run on (its affinity, e.g. a container's limit), at least one."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class RehearsalHasher(SecretHasher):
    """A SecretHasher for a throwaway copy of some records (an import's rehearsal): the same checks and
    verification, but new values are hashed with the fast keyed hash instead of argon2id. Its hashes
    are never stored; it shares the verified-secret memory of the hasher it stands in for."""

    def __init__(self, hasher: SecretHasher) -> None:
        super().__init__(hasher._pepper)
        self._verified = hasher._verified
        self._lock = hasher._lock

    def hash_human(self, value: str) -> str:
        self.check_human(value)
        return self.hash_generated(value)

    def hash_password(self, value: str) -> str:
        return self.hash_generated(value)
