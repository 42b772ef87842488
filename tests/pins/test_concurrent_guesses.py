"""Concurrent wrong guesses do not pass a sign-in throttle together: each attempt is reserved (counted as a
failure while its secret is checked) before the check, so of 40 guesses sent at once at most the limit are
evaluated and the rest are refused with 429 — for the administrator sign-in, client authentication and the
password grant."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import httpx

from credo.management.admins import create_admin
from credo.management.clients import create_client
from credo.storage.memory import MemoryStorage
from tests.factories import USERNAME, on_behalf_setup
from tests.pins.inprocess import ALPHA, InProcess, in_process

GUESSES = 40


def _statuses(app: InProcess, path: str, **body: object) -> Counter[int]:
    """The statuses of GUESSES concurrent requests, then of one more once they are all answered (the
    evaluated guesses were recorded as failures: the key stays refused)."""
    responses = app.gather([lambda http: http.post(path, **body) for _ in range(GUESSES)])  # type: ignore[misc]
    assert app.post(path, **body).status_code == 429  # type: ignore[arg-type]
    return Counter(r.status_code for r in responses)


def _at_most_the_limit(statuses: Counter[int], evaluated: int, limit: int) -> None:
    assert set(statuses) == {evaluated, 429}, statuses
    assert 1 <= statuses[evaluated] <= limit, statuses
    assert statuses[evaluated] + statuses[429] == GUESSES


def test_administrator_sign_in(tmp_path: Path) -> None:
    with in_process(MemoryStorage(), tmp_path) as app:
        create_admin(app.services, "root-admin", "correct-horse-battery-staple")
        statuses = _statuses(app, "/admin/api/token", json={"username": "root-admin", "password": "wrong-guess"})
        _at_most_the_limit(statuses, 400, app.services.auth_throttle.limit)


def test_client_authentication(tmp_path: Path) -> None:
    with in_process(MemoryStorage(), tmp_path) as app:
        create_client(app.services, "alpha", "chosen", secret="a-human-chosen-secret-of-some-length")  # argon2
        statuses = _statuses(app, f"{ALPHA}/access_token", data={
            "grant_type": "client_credentials", "client_id": "chosen", "client_secret": "wrong-guess"})
        _at_most_the_limit(statuses, 401, app.services.auth_throttle.limit)


def test_password_grant(tmp_path: Path) -> None:
    with in_process(MemoryStorage(), tmp_path) as app:
        _, web = on_behalf_setup(app.services)
        statuses = _statuses(app, f"{ALPHA}/access_token", data={
            "grant_type": "password", "username": USERNAME, "password": "wrong-guess", **web.auth})
        _at_most_the_limit(statuses, 400, app.services.login_throttle.limit)


def test_a_success_releases_its_reservation(tmp_path: Path) -> None:
    with in_process(MemoryStorage(), tmp_path) as app:
        _, web = on_behalf_setup(app.services)
        good = {"grant_type": "client_credentials", **web.auth}
        for _ in range(3 * app.services.auth_throttle.limit):  # successes never use up the failure budget
            r: httpx.Response = app.post(f"{ALPHA}/access_token", data=good)
            assert r.status_code == 200, r.text
