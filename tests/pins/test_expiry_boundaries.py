"""An access token is valid strictly before its `exp` and not at that instant (RFC 7519 §4.1.4), for
opaque and JWT tokens alike; a JWT is not valid before its `nbf`."""

from __future__ import annotations

from pathlib import Path

import pytest

from credo.domain.clock import FrozenClock
from credo.management.realms import update_settings
from credo.storage.memory import MemoryStorage
from tests.pins.inprocess import ALPHA, InProcess, in_process

START = 1_800_000_000


def _introspect(app: InProcess, client_id: str, token: str) -> dict[str, object]:
    r = app.post(f"{ALPHA}/introspect", data={"token": token, "client_id": client_id,
                                              "client_secret": app.demo[client_id]})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


@pytest.mark.parametrize("client_id", ["demo-client", "bench-client"], ids=["opaque", "jwt"])
def test_token_dies_at_its_exp_instant(client_id: str, tmp_path: Path) -> None:
    clock = FrozenClock(START)
    with in_process(MemoryStorage(), tmp_path, clock=clock) as app:
        update_settings(app.services, "alpha", {"access_token_lifetime": 300})
        r = app.token(client_id, app.demo[client_id])
        assert r.status_code == 200 and r.json()["expires_in"] == 300
        token = r.json()["access_token"]
        assert (token.count(".") == 2) == (client_id == "bench-client")
        clock.advance(299)
        body = _introspect(app, client_id, token)
        assert body["active"] is True and body["exp"] == START + 300 and body["expires_in"] == 1
        clock.advance(1)  # now == exp
        assert _introspect(app, client_id, token) == {"active": False}
        info = app.get(f"{ALPHA}/tokeninfo", headers={"Authorization": f"Bearer {token}"})
        assert info.status_code == 401 and info.json()["error"] == "invalid_token"


def test_jwt_not_valid_before_nbf(tmp_path: Path) -> None:
    clock = FrozenClock(START)
    with in_process(MemoryStorage(), tmp_path, clock=clock) as app:
        services = app.services
        claims = {"iss": services.issuer(services.realm("alpha")), "sub": "bench-client", "client_id": "bench-client",
                  "aud": "bench-client", "scope": "data-read", "iat": START, "nbf": START + 60, "exp": START + 600,
                  "jti": "nbf-test-0001"}
        token = services.keys.sign_now("alpha", claims)
        assert _introspect(app, "bench-client", token) == {"active": False}
        clock.advance(60)
        assert _introspect(app, "bench-client", token)["active"] is True
