"""A retired signing key verifies only until its publication ends: then the tokens it signed introspect as
inactive (even unexpired ones, even already verified and remembered), the key leaves the JWKS, and the
key ring deletes it when it next loads the realm's keys; `credo keys purge` deletes it on demand."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from credo.domain.clock import FrozenClock
from credo.management.realms import update_settings
from credo.storage.memory import MemoryStorage
from credo.storage.sql.engine import make_engine
from credo.storage.sql.store import SqlStorage
from tests.pins.inprocess import ALPHA, InProcess, in_process
from tests.procs import cli, cli_json
from tests.support import services_for

START = 1_800_000_000


def _introspect(app: InProcess, token: str) -> bool:
    r = app.post(f"{ALPHA}/introspect", data={"token": token, "client_id": "bench-client",
                                              "client_secret": app.demo["bench-client"]})
    assert r.status_code == 200
    return bool(r.json()["active"])


def test_token_of_a_key_past_its_window_is_inactive_and_the_key_purged(tmp_path: Path) -> None:
    clock, storage = FrozenClock(START), MemoryStorage()
    with in_process(storage, tmp_path, clock=clock) as app:
        update_settings(app.services, "alpha", {"access_token_lifetime": 3600})
        token = app.token("bench-client", app.demo["bench-client"]).json()["access_token"]
        assert token.count(".") == 2 and _introspect(app, token)  # verified once: remembered
        new = app.services.keys.rotate("alpha", "ES256", 60)  # the old key published for 60 s only
        assert _introspect(app, token)
        clock.advance(61)  # the token itself lives another hour; its key's publication has ended
        assert not _introspect(app, token)  # this process still holds the key: the window alone refuses it
        assert {k["kid"] for k in app.get(f"{ALPHA}/connect/jwk_uri").json()["keys"]} == {new.kid}
        assert not _introspect(app, token)
        assert {k.kid for k in storage.keys.all("alpha")} == {new.kid}  # the refused kid reloaded the ring


def test_the_key_ring_deletes_a_key_past_its_window_when_it_loads(tmp_path: Path) -> None:
    clock, storage = FrozenClock(START), MemoryStorage()
    services = services_for(storage, tmp_path, clock=clock)
    services.keys.ensure_key("alpha", "ES256")
    old = {k.kid for k in storage.keys.all("alpha")}
    new = services.keys.rotate("alpha", "ES256", 60)
    clock.advance(60)
    assert {k.kid for k in storage.keys.all("alpha")} == old | {new.kid}
    services_for(storage, tmp_path, clock=clock).keys.jwks("alpha")  # another process loads the ring...
    assert {k.kid for k in storage.keys.all("alpha")} == {new.kid}  # ...and deletes the key

def test_keys_purge_command(tmp_path: Path) -> None:
    cli(tmp_path, "realm", "create", "alpha")
    first = [k["kid"] for k in json.loads(cli(tmp_path, "keys", "list", "alpha", "--json"))]
    cli(tmp_path, "keys", "rotate", "alpha")
    assert cli_json(tmp_path, "keys", "purge", "alpha") == {"realm": "alpha", "purged": 0}  # still published
    storage = SqlStorage(make_engine(f"sqlite:///{tmp_path / 'credo.db'}"))
    try:
        (old,) = [k for k in storage.keys.all("alpha") if k.kid in first]
        storage.keys.put(replace(old, publish_until=1))  # its window is over
    finally:
        storage.close()
    assert cli_json(tmp_path, "keys", "purge", "alpha") == {"realm": "alpha", "purged": 1}
    left = [k["kid"] for k in json.loads(cli(tmp_path, "keys", "list", "alpha", "--json"))]
    assert len(left) == 1 and left[0] not in first
