"""A signing key purged by another process (another server on the same database) stops verifying in this
one at once: the verified-token cache must not keep accepting tokens it signed."""

from __future__ import annotations

from pathlib import Path

from credo.domain.clock import FrozenClock
from credo.management.realms import update_settings
from credo.storage.sql.engine import make_engine
from credo.storage.sql.migrate import upgrade
from credo.storage.sql.store import SqlStorage
from tests.pins.inprocess import ALPHA, in_process
from tests.support import services_for


def test_key_purged_elsewhere_no_longer_verifies(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    upgrade(make_engine(url))
    ours, theirs = SqlStorage(make_engine(url)), SqlStorage(make_engine(url))
    clock = FrozenClock(1_800_000_000)
    try:
        with in_process(ours, tmp_path, clock=clock) as app:
            other = services_for(theirs, tmp_path, clock=clock)  # the other process
            update_settings(app.services, "alpha", {"access_token_lifetime": 3600})
            secret = app.demo["bench-client"]  # stateless (JWT) tokens
            token = app.token("bench-client", secret).json()["access_token"]
            assert token.count(".") == 2
            form = {"token": token, "client_id": "bench-client", "client_secret": secret}
            assert app.post(f"{ALPHA}/introspect", data=form).json()["active"] is True  # verified once: cached

            other.keys.rotate("alpha", "ES256", 60)  # the administrator publishes the old key for 60 s only
            clock.advance(61)
            assert other.keys.purge_retired("alpha") == 1  # ...and purges it: the token's key is gone
            assert token.count(".") == 2 and clock.now() < 1_800_000_000 + 3600  # the token itself is unexpired

            r = app.post(f"{ALPHA}/introspect", data=form)
            assert r.status_code == 200
            assert r.json() == {"active": False}
            tokeninfo = app.get(f"{ALPHA}/tokeninfo", headers={"Authorization": f"Bearer {token}"})
            assert tokeninfo.status_code == 401 and tokeninfo.json()["error"] == "invalid_token"
            fresh = app.token("bench-client", secret).json()["access_token"]  # signed with the new key
            assert app.post(f"{ALPHA}/introspect", data={**form, "token": fresh}).json()["active"] is True
    finally:
        ours.close()
        theirs.close()
