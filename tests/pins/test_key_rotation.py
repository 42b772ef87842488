"""Key rotation: the new key signs at once; the old key stays published and keeps verifying the tokens it
signed until every one of them has expired, and only then may it be purged."""

from __future__ import annotations

from pathlib import Path

from credo.domain.clock import FrozenClock
from credo.management.keys import publication, rotate_key
from credo.management.realms import update_settings
from credo.storage.memory import MemoryStorage
from tests.pins.inprocess import ALPHA, InProcess, in_process

START = 1_800_000_000


def _active(app: InProcess, token: str) -> bool:
    r = app.post(f"{ALPHA}/introspect", data={"token": token, "client_id": "bench-client",
                                              "client_secret": app.demo["bench-client"]})
    assert r.status_code == 200
    return bool(r.json()["active"])


def test_old_key_verifies_until_its_tokens_expired(tmp_path: Path) -> None:
    clock = FrozenClock(START)
    with in_process(MemoryStorage(), tmp_path, clock=clock) as app:
        update_settings(app.services, "alpha", {"access_token_lifetime": 600})
        old_token = app.token("bench-client", app.demo["bench-client"]).json()["access_token"]
        old_kids = {k["kid"] for k in app.get(f"{ALPHA}/connect/jwk_uri").json()["keys"]}
        longest = publication(app.services, "alpha")  # the longest token lifetime and a clock skew
        new = rotate_key(app.services, "alpha")
        assert new["publish_until"] is None
        published = {k["kid"] for k in app.get(f"{ALPHA}/connect/jwk_uri").json()["keys"]}
        assert published == old_kids | {new["kid"]}
        new_token = app.token("bench-client", app.demo["bench-client"]).json()["access_token"]
        assert _active(app, old_token) and _active(app, new_token)

        clock.advance(longest - 1)  # the old key is retired but may still have live tokens
        assert app.services.keys.purge_retired("alpha") == 0
        assert {k["kid"] for k in app.get(f"{ALPHA}/connect/jwk_uri").json()["keys"]} == published
        clock.advance(1)
        assert app.services.keys.purge_retired("alpha") == len(old_kids)
        assert {k["kid"] for k in app.get(f"{ALPHA}/connect/jwk_uri").json()["keys"]} == {new["kid"]}
