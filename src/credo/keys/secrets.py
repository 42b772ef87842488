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
import secrets
import threading

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
        return "argon2$" + _argon2.hash(value)

    def hash_password(self, value: str) -> str:
        """Users' and administrators' passwords (argon2id)."""
        return "argon2$" + _argon2.hash(value)

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
