"""Token endpoint, revocation and introspection rules: a refresh request with a wider scope leaves the refresh
token usable; a client cannot revoke another client's token; an unknown `token_type_hint` answers
`{"active": false}`; an exchanged token never outlives its subject token."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from credo.domain.clock import FrozenClock
from credo.management.realms import update_settings
from credo.storage.memory import MemoryStorage
from tests.factories import autonomous_setup, cc_token, exchange, on_behalf_setup, password_token
from tests.pins.inprocess import ALPHA, InProcess, assert_error, in_process

START = 1_800_000_000


@pytest.fixture
def app(tmp_path: Path) -> Iterator[InProcess]:
    with in_process(MemoryStorage(), tmp_path, clock=FrozenClock(START)) as app:
        yield app


def _refresh(app: InProcess, web, refresh_token: str, scope: str | None = None):  # type: ignore[no-untyped-def]
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token, **web.auth}
    if scope is not None:
        data["scope"] = scope
    return app.post(f"{ALPHA}/access_token", data=data)


def test_wider_scope_on_refresh_leaves_the_refresh_token_usable(app: InProcess) -> None:
    _, web = on_behalf_setup(app.services)
    login = password_token(app, ALPHA, web, scope="openid read-data")  # type: ignore[arg-type]
    assert login.status_code == 200, login.text
    refresh = login.json()["refresh_token"]
    assert_error(_refresh(app, web, refresh, "openid read-data write-data"), 400, "invalid_scope")
    again = _refresh(app, web, refresh, "openid")  # not burned by the refused request
    assert again.status_code == 200, again.text
    assert again.json()["scope"] == "openid"


def test_client_cannot_revoke_another_clients_token(app: InProcess) -> None:
    for owner in ("demo-client", "bench-client"):  # opaque and JWT
        token = app.token(owner, app.demo[owner]).json()["access_token"]
        other = "bench-client" if owner == "demo-client" else "demo-client"
        r = app.post(f"{ALPHA}/token/revoke", data={"token": token, "client_id": other,
                                                    "client_secret": app.demo[other]})
        assert r.status_code == 200  # RFC 7009: no hint that the token was someone else's
        seen = app.post(f"{ALPHA}/introspect", data={"token": token, "client_id": owner,
                                                     "client_secret": app.demo[owner]})
        assert seen.json()["active"] is True, owner
        mine = app.post(f"{ALPHA}/token/revoke", data={"token": token, "client_id": owner,
                                                       "client_secret": app.demo[owner]})
        assert mine.status_code == 200
        gone = app.post(f"{ALPHA}/introspect", data={"token": token, "client_id": owner,
                                                     "client_secret": app.demo[owner]})
        assert gone.json() == {"active": False}, owner


def test_unknown_token_type_hint_is_inactive(app: InProcess) -> None:
    secret = app.demo["demo-client"]
    token = app.token("demo-client", secret).json()["access_token"]
    form = {"token": token, "client_id": "demo-client", "client_secret": secret}
    for hint, active in (("access_token", True), ("refresh_token", True), ("id_token", False), ("", False)):
        r = app.post(f"{ALPHA}/introspect", data={**form, "token_type_hint": hint})
        assert r.status_code == 200
        assert r.json()["active"] is active, hint
        if not active:
            assert r.json() == {"active": False}


@pytest.mark.parametrize("stateless", [True, False], ids=["jwt", "opaque"])
def test_exchanged_token_never_outlives_its_subject(tmp_path: Path, stateless: bool) -> None:
    clock = FrozenClock(START)
    with in_process(MemoryStorage(), tmp_path, clock=clock) as app:
        agent, _ = autonomous_setup(app.services, stateless=stateless)
        update_settings(app.services, "alpha", {"access_token_lifetime": 600})
        subject = cc_token(app, ALPHA, agent)  # type: ignore[arg-type]
        clock.advance(500)  # the subject token has 100 s left
        r = exchange(app, ALPHA, agent, subject, "access-log-api")  # type: ignore[arg-type]
        assert r.status_code == 200, r.text
        assert r.json()["expires_in"] == 100
        body = app.post(f"{ALPHA}/introspect", data={"token": r.json()["access_token"], **agent.auth}).json()
        assert body["active"] is True and body["exp"] == START + 600
        clock.advance(100)
        gone = app.post(f"{ALPHA}/introspect", data={"token": r.json()["access_token"], **agent.auth})
        assert gone.json() == {"active": False}
