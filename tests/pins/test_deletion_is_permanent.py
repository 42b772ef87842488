"""Deletion is permanent: a client or user deleted and then created again under the same identifier does
not get the old record's tokens back (access tokens, refresh tokens), also when the new record is created
in the very second the old one was deleted; the new record's own tokens work."""

from __future__ import annotations

from pathlib import Path

import pytest

from credo.domain.clock import FrozenClock
from credo.management.agents import delete_agent
from credo.management.applications import delete_application
from credo.management.usecases import create_user, delete_user
from credo.storage.memory import MemoryStorage
from tests.factories import OBO_AGENT, OBO_APP, PASSWORD, USER_ID, USERNAME, Party, on_behalf_setup, realm_settings
from tests.pins.inprocess import ALPHA, InProcess, in_process

START = 1_800_000_000


def _password(app: InProcess, web: Party) -> dict[str, str]:
    r = app.post(f"{ALPHA}/access_token", data={"grant_type": "password", "username": USERNAME, "password": PASSWORD,
                                                 "scope": "openid read-data", **web.auth})
    assert r.status_code == 200, r.text
    return {"access": r.json()["access_token"], "refresh": r.json()["refresh_token"]}


def _refreshed(app: InProcess, web: Party, value: str) -> int:
    return app.post(f"{ALPHA}/access_token", data={"grant_type": "refresh_token", "refresh_token": value,
                                                    **web.auth}).status_code


def _active(app: InProcess, web: Party, value: str) -> bool:
    r = app.post(f"{ALPHA}/introspect", data={"token": value, **web.auth})
    assert r.status_code == 200, r.text
    return bool(r.json()["active"])


def _recreate_web_app(app: InProcess) -> None:
    delete_agent(app.services, "alpha", OBO_AGENT)
    delete_application(app.services, "alpha", OBO_APP)
    on_behalf_setup(app.services)  # both again: same ids, same secrets


@pytest.mark.parametrize("gap", [0, 5], ids=["same-second", "later"])
@pytest.mark.parametrize("stateless", [True, False], ids=["jwt", "opaque"])
def test_recreated_client_does_not_inherit_tokens(tmp_path: Path, gap: int, stateless: bool) -> None:
    clock = FrozenClock(START)
    with in_process(MemoryStorage(), tmp_path, clock=clock) as app:
        _, web = on_behalf_setup(app.services)
        realm_settings(app.services, token_format="stateless" if stateless else "stateful")
        old = _password(app, web)
        clock.advance(gap)
        _recreate_web_app(app)
        assert _refreshed(app, web, old["refresh"]) == 400
        assert not _active(app, web, old["access"])
        clock.advance(1)
        new = _password(app, web)  # the new application's own tokens work
        assert _active(app, web, new["access"]) and _refreshed(app, web, new["refresh"]) == 200


@pytest.mark.parametrize("gap", [0, 5], ids=["same-second", "later"])
@pytest.mark.parametrize("stateless", [True, False], ids=["jwt", "opaque"])
def test_recreated_user_does_not_inherit_tokens(tmp_path: Path, gap: int, stateless: bool) -> None:
    clock = FrozenClock(START)
    with in_process(MemoryStorage(), tmp_path, clock=clock) as app:
        _, web = on_behalf_setup(app.services)
        realm_settings(app.services, token_format="stateless" if stateless else "stateful")
        old = _password(app, web)
        clock.advance(gap)
        delete_user(app.services, "alpha", USER_ID)
        create_user(app.services, "alpha", USERNAME, PASSWORD, user_id=USER_ID)  # as `credo import` does
        assert _refreshed(app, web, old["refresh"]) == 400
        assert not _active(app, web, old["access"])
        clock.advance(1)
        new = _password(app, web)
        assert _active(app, web, new["access"]) and _refreshed(app, web, new["refresh"]) == 200
