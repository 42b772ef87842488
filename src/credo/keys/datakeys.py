"""Envelope encryption: the master key seals a data key; the data key does the work.

The data key is two 32-byte keys: the AES-256-GCM key that seals every private signing key, and the
HMAC key ("pepper") of the stored hashes of client secrets, tokens and throttle identities. It lives in
the database (`data_keys`, migration 0006_keys), sealed by the master key and labelled with the master
key's id (a keyed fingerprint). So:

- a new master key re-seals one row (`rewrap`), and nothing that depends on the data key changes: the
  stored hashes (which cannot be recomputed without the plaintexts), the sealed private keys, the
  tokens already issued;
- every process opens the data key once at start-up and keeps it in memory: a rewrap, which changes
  only the sealed form, does not disturb running processes;
- during a master-key change a process is given the new key and the previous one
  (CREDO_MASTER_KEY_PREVIOUS) and opens the data key with whichever sealed it.

An installation from before envelope encryption has hashes and sealed keys made with keys derived from
its master key; its data key is those derived keys (`legacy_data_key`), stored sealed on its first
start, so it upgrades without a change to any stored value. A new installation's data key is random.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable

from cryptography.exceptions import InvalidTag

from credo.domain.clock import Clock
from credo.domain.models import SealedDataKey
from credo.domain.values import value_object
from credo.keys.sealing import Sealer
from credo.storage.protocols import KeyRepository

DATA_KEY = "main"
_CONTEXT = b"credo/data-key/" + DATA_KEY.encode()
_LABEL = b"credo-data-key-sealing"


class DataKeyLocked(ValueError):
    """No configured master key opens the stored data key (the message says what to set)."""


@value_object
class DataKey:
    sealing: bytes  # AES-256-GCM key of the private signing keys
    hashing: bytes  # HMAC-SHA-256 key of stored secrets and tokens

    def sealer(self) -> Sealer:
        return Sealer.from_key(self.sealing)

    def encode(self) -> bytes:
        return self.sealing + self.hashing

    @classmethod
    def decode(cls, raw: bytes) -> DataKey:
        if len(raw) != 64:
            raise ValueError("a data key has 64 bytes")
        return cls(raw[:32], raw[32:])

    @classmethod
    def random(cls) -> DataKey:
        return cls(os.urandom(32), os.urandom(32))


def legacy_data_key(master: bytes) -> DataKey:
    """The keys a master key derived before envelope encryption (so existing hashes stay valid)."""
    return DataKey(hashlib.sha256(b"credo-key-sealing" + master).digest(),
                   hashlib.sha256(b"credo-token-hashing" + master).digest())


def master_id(master: bytes) -> str:
    """A master key's public name: a keyed fingerprint (reveals nothing of the key)."""
    return hmac.digest(master, b"credo-master-key-id", "sha256")[:8].hex()


@value_object
class MasterKeys:
    current: bytes
    previous: bytes | None = None

    def seal(self, key: DataKey, name: str, created_at: int, now: int) -> SealedDataKey:
        return SealedDataKey(name=name, sealed=Sealer(self.current, _LABEL).seal(key.encode(), _CONTEXT),
                             master_id=master_id(self.current), created_at=created_at, updated_at=now)

    def open(self, stored: SealedDataKey) -> DataKey:
        for master in (self.current, self.previous):
            if master is not None and master_id(master) == stored.master_id:
                try:
                    return DataKey.decode(Sealer(master, _LABEL).open(stored.sealed, _CONTEXT))
                except (InvalidTag, ValueError) as exc:
                    raise DataKeyLocked("the stored data key does not open with the master key of its id: the "
                                        "data_keys row is damaged; restore it from a backup") from exc
        known = ", ".join(f"{name} is {master_id(m)}" for name, m in
                          (("CREDO_MASTER_KEY", self.current), ("CREDO_MASTER_KEY_PREVIOUS", self.previous))
                          if m is not None)
        raise DataKeyLocked(f"the database's data key is sealed by master key {stored.master_id}, and no "
                            f"configured key is that one ({known}). Set CREDO_MASTER_KEY (or "
                            "CREDO_MASTER_KEY_FILE) to the master key of this database; during a master-key "
                            "change, the previous one as CREDO_MASTER_KEY_PREVIOUS")


def load_data_key(repo: KeyRepository, masters: MasterKeys, clock: Clock, *,
                  existing_data: Callable[[], bool]) -> DataKey:
    """The database's data key, opened with the configured master keys; created on first use: random for
    a new database, the master key's legacy keys when `existing_data()` (hashes and sealed keys made before
    envelope encryption). Several processes starting at once agree: the first insert wins, the others
    read it."""
    stored = repo.data_key(DATA_KEY)
    if stored is None:
        key = legacy_data_key(masters.current) if existing_data() else DataKey.random()
        now = clock.now()
        if repo.add_data_key(masters.seal(key, DATA_KEY, now, now)):
            return key
        stored = repo.data_key(DATA_KEY)
        assert stored is not None  # another process inserted it first
    return masters.open(stored)


def sealed_by_previous(repo: KeyRepository, masters: MasterKeys) -> bool:
    """Whether the data key is still sealed by a master key other than the current one."""
    stored = repo.data_key(DATA_KEY)
    return stored is not None and stored.master_id != master_id(masters.current)


def rewrap(repo: KeyRepository, masters: MasterKeys, clock: Clock) -> tuple[str, str]:
    """Re-seal the data key under the current master key (it opens with the current or the previous
    one); returns (old master id, new master id). Nothing else changes: every hash, sealed private key
    and issued token stays valid, and running processes keep the data key they opened."""
    stored = repo.data_key(DATA_KEY)
    if stored is None:
        raise DataKeyLocked("the database has no data key yet: start the server (or run credo db upgrade) once")
    key = masters.open(stored)
    new_id = master_id(masters.current)
    if stored.master_id == new_id:
        return stored.master_id, new_id
    if not repo.reseal_data_key(masters.seal(key, DATA_KEY, stored.created_at, clock.now()), stored.master_id):
        raise DataKeyLocked("the data key changed during the rewrap (another rewrap?); run it again")
    return stored.master_id, new_id
