"""An import does its argon2 work first, in parallel (SecretHasher.ahead): every password and secret of the
document is hashed (new entries) or checked (existing ones) on a thread pool, the use cases then take the
hashes made ahead instead of hashing again, and nothing made ahead outlives the import."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from credo.keys import secrets as secrets_module
from credo.keys.secrets import SecretHasher
from credo.management.export import import_document
from credo.storage.memory import MemoryStorage
from tests.support import services_for


def _doc(users: int, apps: int) -> dict[str, Any]:
    return {"realm": "bulk",
            "users": [{"username": f"u{i}", "password": f"password-number-{i}"} for i in range(users)],
            "applications": [{"client_id": f"app{i}", "secret": f"a-chosen-secret-number-{i}"} for i in range(apps)]}


class CountingArgon2:
    """The argon2 hasher, counting its calls and the threads they ran on."""

    def __init__(self, real: Any) -> None:
        self.real, self.hashes, self.verifies, self.threads = real, 0, 0, set[str]()
        self.lock = threading.Lock()

    def hash(self, value: str) -> str:
        with self.lock:
            self.hashes += 1
            self.threads.add(threading.current_thread().name)
        return str(self.real.hash(value))

    def verify(self, stored: str, value: str) -> bool:
        with self.lock:
            self.verifies += 1
            self.threads.add(threading.current_thread().name)
        return bool(self.real.verify(stored, value))


@pytest.fixture
def argon2(monkeypatch: pytest.MonkeyPatch) -> CountingArgon2:
    counting = CountingArgon2(secrets_module._argon2)
    monkeypatch.setattr(secrets_module, "_argon2", counting)
    return counting


def test_an_import_hashes_each_secret_once_on_the_pool(argon2: CountingArgon2, tmp_path: Path) -> None:
    storage = MemoryStorage()
    services = services_for(storage, tmp_path)  # type: ignore[arg-type]
    phases: list[tuple[str, int, int]] = []
    counts = import_document(services, _doc(12, 4), progress=lambda *p: phases.append(p))
    assert (counts["users"], counts["applications"]) == (12, 4)
    assert argon2.hashes == 16  # once each: ahead, and never again in the use cases
    assert all(name.startswith("argon2") for name in argon2.threads)  # all on the pool's threads
    assert [p for p in phases if p[0] == "secrets"][-1] == ("secrets", 16, 16)
    assert ("users", 12, 12) in phases and ("applications", 4, 4) in phases
    for i in range(12):
        user = services.storage.users.by_username("bulk", f"u{i}")
        assert user is not None and services.hasher.verify(f"password-number-{i}", user.password_hash)
    for i in range(4):
        client = services.storage.clients.get("bulk", f"app{i}")
        assert client is not None and services.hasher.verify(f"a-chosen-secret-number-{i}", client.secret_hash)

    # Importing it again (another process: nothing remembered) checks each stored hash once, ahead, on the
    # pool, and hashes nothing.
    argon2.hashes = argon2.verifies = 0
    argon2.threads.clear()
    again = import_document(services_for(storage, tmp_path), _doc(12, 4))  # type: ignore[arg-type]
    assert again["users"] == again["applications"] == again["secrets_kept"] == 0
    assert (argon2.hashes, argon2.verifies) == (0, 16)
    assert all(name.startswith("argon2") for name in argon2.threads)


def test_hashes_made_ahead_are_handed_out_once_and_dropped_after() -> None:
    hasher = SecretHasher(b"p" * 32)
    with hasher.ahead(["same-password", "same-password", "unused-one"], [], workers=2):
        first, second = hasher.hash_password("same-password"), hasher.hash_password("same-password")
        assert first != second  # two salts for two entries with one password
        assert hasher.verify("same-password", first) and hasher.verify("same-password", second)
    fresh = hasher.hash_password("unused-one")  # made after leaving: the unused hash was dropped
    assert hasher.verify("unused-one", fresh)
    with hasher.ahead([], [], workers=2):  # nothing to do: no pool at all
        pass
