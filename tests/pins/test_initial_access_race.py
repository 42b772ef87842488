"""One initial access token registers exactly one client, also when several registrations present it at
the same moment: every loser gets `401 invalid_token` (never a server error), and only one client exists."""

from __future__ import annotations

from pathlib import Path

import pytest

from credo.management.clients import create_client
from credo.management.realms import update_settings
from credo.oauth.credentials import BearerToken
from credo.oauth.registration import RegistrationRequest, prepare_registration, registered
from credo.storage.protocols import Conflict, Storage
from credo.storage.unit_of_work import UnitOfWork
from tests.pins.inprocess import ALPHA, InProcess, in_process
from tests.support import make_storage, run_async

BODY = {"grant_types": ["client_credentials"], "scopes": ["data-read"], "client_name": "Racer",
        "token_endpoint_auth_method": "client_secret_post"}


def _initial_access_token(app: InProcess) -> str:
    update_settings(app.services, "alpha", {"allow_open_registration": False})
    _, secret = create_client(app.services, "alpha", "iat-issuer", scopes=("dcr_register",),
                              auth_method="client_secret_post")
    assert secret is not None
    r = app.token("iat-issuer", secret, scope="dcr_register")
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_concurrent_registrations_one_winner(kind: str, tmp_path: Path) -> None:
    storage: Storage
    with make_storage(kind, tmp_path) as storage, in_process(storage, tmp_path) as app:
        token = _initial_access_token(app)
        auth = {"Authorization": f"Bearer {token}"}
        answers = app.gather([lambda http: http.post(f"{ALPHA}/register", json=BODY, headers=auth)] * 4)
        codes = sorted(r.status_code for r in answers)
        assert codes == [201, 401, 401, 401], [r.text for r in answers]
        for r in answers:
            if r.status_code == 401:
                assert r.json()["error"] == "invalid_token", r.text
        assert storage.clients.count("alpha", dynamic=True) == 1
        again = app.post(f"{ALPHA}/register", json=BODY, headers=auth)  # and afterwards, too
        assert again.status_code == 401 and again.json()["error"] == "invalid_token"


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_checked_twice_stored_once(kind: str, tmp_path: Path) -> None:
    """Two registrations both pass every check before either is stored (two processes at the same moment):
    storing the second conflicts on the burned token, and its answer is invalid_token."""
    storage: Storage
    with make_storage(kind, tmp_path) as storage, in_process(storage, tmp_path) as app:
        token = _initial_access_token(app)
        request = RegistrationRequest(realm=app.services.realm("alpha"), body=dict(BODY),
                                      bearer=BearerToken(token), source="192.0.2.1")
        works = UnitOfWork(), UnitOfWork()
        first, second = (run_async(prepare_registration(app.services, request, work)) for work in works)
        assert app.services.commit_now(works[0]) is None
        assert registered(app.services, first, None)["client_id"] == first.client.client_id
        conflict = app.services.commit_now(works[1])
        assert isinstance(conflict, Conflict)
        with pytest.raises(Exception) as refused:
            registered(app.services, second, conflict)
        assert (refused.value.status, refused.value.error) == (401, "invalid_token")  # type: ignore[attr-defined]
        assert storage.clients.count("alpha", dynamic=True) == 1
