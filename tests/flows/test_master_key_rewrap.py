"""A new master key without downtime (`credo keys rewrap`), and the upgrade of an installation from before
envelope encryption. On SQLite and PostgreSQL, with several servers on one database:

- a server given the new key and the previous one works before and after the rewrap;
- the rewrap re-seals the data key only: the sealed private keys, the client secrets' hashes and every
  issued token stay valid; a server started before it, with the old key only, keeps working (it holds
  the data key) and even uses a signing key created after it;
- after it, a server with the new key alone works, and one with the old key alone refuses to start with
  a message that names both keys' ids.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from credo.app import open_storage
from credo.cli.main import app as cli
from credo.domain.clock import SystemClock
from credo.keys.datakeys import DATA_KEY, DataKeyLocked, master_id
from credo.keys.keyring import KeyRing
from credo.keys.sealing import Sealer
from credo.keys.secrets import SecretHasher
from credo.management.demo import ensure_demo
from credo.management.keys import rotate_key
from credo.oauth.services import Services
from credo.storage.cached import CachedStorage
from credo.storage.protocols import Storage
from tests.held_tokens import ALPHA, Held, assert_still_good, issue
from tests.support import in_process_server, postgres_reachable, shared_database_url
from tests.support import test_settings as settings_for

OLD = "old-master-key-0123456789abcdefghijklmnop"
NEW = "new-master-key-0123456789abcdefghijklmnop"
KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.skipif(postgres_reachable() is not None,
                                                                      reason=str(postgres_reachable())))]


def _storage(tmp_path: Path, url: str) -> Storage:
    return open_storage(settings_for(tmp_path, database_url=url))


def _rewrap(url: str, tmp_path: Path, *, previous: str | None) -> dict[str, object]:
    env = {"CREDO_DATABASE_URL": url, "CREDO_MASTER_KEY": NEW, "CREDO_DATA_DIR": str(tmp_path)}
    if previous is not None:
        env["CREDO_MASTER_KEY_PREVIOUS"] = previous
    result = CliRunner().invoke(cli, ["keys", "rewrap"], env=env)
    if result.exception is not None:
        raise result.exception
    return dict(json.loads(result.output))


def _jwt_kid(server: object, held: Held) -> str:
    import jwt

    with server.client() as http:  # type: ignore[attr-defined]
        r = http.post(f"{ALPHA}/access_token", data={"grant_type": "client_credentials", "client_id": "bench-client",
                                                    "client_secret": held.secrets["bench-client"]})
    return str(jwt.get_unverified_header(r.json()["access_token"])["kid"])


@pytest.mark.parametrize("kind", KINDS)
def test_rewrap_without_downtime(kind: str, tmp_path: Path) -> None:
    with shared_database_url(kind, tmp_path) as url:
        stores = [_storage(tmp_path, url) for _ in range(4)]
        try:
            with in_process_server(stores[0], tmp_path, master_key=OLD) as running:  # started before the change
                held = issue(running)
                sealed_keys = {k.kid: k.private_key_encrypted for k in stores[0].keys.all("alpha")}
                before = stores[0].keys.data_key(DATA_KEY)
                assert before is not None and before.master_id == master_id(OLD.encode())

                # Step 1: the nodes are given the new key, and the old one as the previous key.
                with in_process_server(stores[1], tmp_path, master_key=NEW, master_key_previous=OLD) as rolled:
                    assert_still_good(rolled, held)
                    with pytest.raises(DataKeyLocked, match=master_id(OLD.encode())):
                        _rewrap(url, tmp_path, previous=None)  # the new key alone cannot open it yet

                    # Step 2: the rewrap, while both serve.
                    assert _rewrap(url, tmp_path, previous=OLD) == {
                        "from_master_key": master_id(OLD.encode()), "to_master_key": master_id(NEW.encode()),
                        "changed": True}
                    assert _rewrap(url, tmp_path, previous=OLD)["changed"] is False  # done once is done
                    after = stores[0].keys.data_key(DATA_KEY)
                    assert after is not None and after.master_id == master_id(NEW.encode())
                    assert after.sealed != before.sealed
                    # The private keys are sealed by the data key: nothing of them changed.
                    assert {k.kid: k.private_key_encrypted for k in stores[0].keys.all("alpha")} == sealed_keys
                    assert_still_good(running, held)
                    assert_still_good(rolled, held)

                # Step 3: the previous key is dropped from the configuration.
                with in_process_server(stores[2], tmp_path, master_key=NEW) as renewed:
                    assert_still_good(renewed, held)
                    new_kid = rotate_key(renewed.services, "alpha")["kid"]
                    assert _jwt_kid(renewed, held) == new_kid
                # The server that started with the old key still opens what the new configuration made.
                assert _jwt_kid(running, held) == new_kid
                assert_still_good(running, held)

                with pytest.raises(DataKeyLocked) as refused:  # the old key alone no longer starts a server
                    with in_process_server(stores[3], tmp_path, master_key=OLD):
                        pass
                assert master_id(NEW.encode()) in str(refused.value) and master_id(OLD.encode()) in str(refused.value)
        finally:
            for store in stores:
                store.close()


def _legacy_services(storage: Storage, master: bytes) -> Services:
    """The services as they were before envelope encryption: the key ring sealing under a key derived from
    the master key, the hashes keyed by another."""
    return Services(storage=CachedStorage(storage), keys=KeyRing(storage.keys, Sealer(master), SystemClock()),
                    hasher=SecretHasher(hashlib.sha256(b"credo-token-hashing" + master).digest()),
                    clock=SystemClock(), base_url="http://credo.test")


@pytest.mark.parametrize("kind", KINDS)
def test_an_existing_installation_upgrades_transparently(kind: str, tmp_path: Path) -> None:
    with shared_database_url(kind, tmp_path) as url:
        store = _storage(tmp_path, url)
        try:
            secrets = {c.client_id: c.client_secret for c in ensure_demo(_legacy_services(store, OLD.encode()))}
            kids = frozenset(k.kid for k in store.keys.all("alpha"))
            assert store.keys.data_key(DATA_KEY) is None  # no data key yet: made before envelope encryption
            with in_process_server(store, tmp_path, master_key=OLD) as upgraded:
                held = issue(upgraded, secrets)
                assert held.secrets == secrets  # the secrets made before still verify: none renewed
                assert held.kids == kids  # the legacy-sealed key opened and signs
                assert_still_good(upgraded, held)
            assert _rewrap(url, tmp_path, previous=OLD)["changed"] is True
            with in_process_server(store, tmp_path, master_key=NEW) as rewrapped:
                assert_still_good(rewrapped, held)
        finally:
            store.close()


def test_a_new_installation_gets_a_random_data_key(tmp_path: Path) -> None:
    """Two new databases under the same master key: different data keys, so one's hashes say nothing of
    the other's, and neither is the legacy derivation."""
    hashes = []
    for name in ("one", "two"):
        with in_process_server(_storage(tmp_path, f"sqlite:///{tmp_path / name}.db"), tmp_path, master_key=OLD) as s:
            hashes.append(s.services.hasher.keyed_hash("same value"))
    legacy = SecretHasher(hashlib.sha256(b"credo-token-hashing" + OLD.encode()).digest()).keyed_hash("same value")
    assert len({*hashes, legacy}) == 3
