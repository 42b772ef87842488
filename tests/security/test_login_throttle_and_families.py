"""Password-grant login throttling, and refresh-token family revocation reaching the access tokens."""

from __future__ import annotations

import httpx
import pytest

from credo.domain.clock import FrozenClock
from credo.management.realms import update_settings
from credo.management.users import create_user
from tests.factories import (
    PASSWORD,
    USERNAME,
    Party,
    assert_oauth_error,
    exchange,
    on_behalf_setup,
    password_token,
    refresh,
)
from tests.support import Server

# --- 1. failed password logins are throttled per (realm, username, source address) ------------------

def test_failed_logins_are_throttled(frozen_sql: tuple[Server, FrozenClock]) -> None:
    srv, clock = frozen_sql
    _, app = on_behalf_setup(srv.services)
    create_user(srv.services, "alpha", "other.user", "other-password")
    base = srv.realm_url("alpha")
    limit = srv.services.login_throttle.limit
    with srv.client() as http:
        for _ in range(limit):
            assert_oauth_error(password_token(http, base, app, password="wrong-password"), 400, "invalid_grant")
        blocked = password_token(http, base, app)  # the right password does not help while throttled
        assert_oauth_error(blocked, 429, "too_many_requests")
        assert 1 <= int(blocked.headers["retry-after"]) <= srv.services.login_throttle.window
        # Another user from the same address, and the same user from another address, are not affected.
        assert password_token(http, base, app, username="other.user", password="other-password").status_code == 200
        with srv.client(source="127.0.0.2") as other:
            assert password_token(other, base, app).status_code == 200
        clock.advance(srv.services.login_throttle.window)
        assert password_token(http, base, app).status_code == 200


def test_unknown_and_inactive_users_count_and_look_alike(frozen_sql: tuple[Server, FrozenClock]) -> None:
    srv, _ = frozen_sql
    _, app = on_behalf_setup(srv.services)
    create_user(srv.services, "alpha", "inactive.user", "inactive-password", active=False)
    base = srv.realm_url("alpha")
    limit = srv.services.login_throttle.limit
    with srv.client() as http:
        answers = [password_token(http, base, app, username="nobody", password=PASSWORD) for _ in range(limit)]
        answers += [password_token(http, base, app, username="inactive.user", password="inactive-password")
                    for _ in range(limit)]
        for r in answers:
            assert_oauth_error(r, 400, "invalid_grant")
        assert len({r.text for r in answers}) == 1
        assert_oauth_error(password_token(http, base, app, username="nobody", password=PASSWORD), 429, "too_many_requests")
        r = password_token(http, base, app, username="inactive.user", password="inactive-password")
        assert_oauth_error(r, 429, "too_many_requests")
        assert password_token(http, base, app, username=USERNAME).status_code == 200


def test_successful_logins_do_not_count(frozen_sql: tuple[Server, FrozenClock]) -> None:
    srv, _ = frozen_sql
    _, app = on_behalf_setup(srv.services)
    base = srv.realm_url("alpha")
    with srv.client() as http:
        for _ in range(srv.services.login_throttle.limit + 2):
            assert password_token(http, base, app).status_code == 200


# --- 2. revoking a refresh-token family deactivates its access tokens ------------------------------

def _active(http: httpx.Client, base: str, app: Party, access_token: str) -> bool:
    r = http.post(f"{base}/introspect", data={"token": access_token, **app.auth})
    assert r.status_code == 200, r.text
    return bool(r.json()["active"])


@pytest.mark.parametrize("token_format", ["stateless", "stateful"])
def test_replay_deactivates_the_family_access_tokens(frozen_sql: tuple[Server, FrozenClock], token_format: str) -> None:
    srv, _ = frozen_sql
    _, app = on_behalf_setup(srv.services)
    update_settings(srv.services, "alpha", {"token_format": token_format})
    base = srv.realm_url("alpha")
    with srv.client() as http:
        login = password_token(http, base, app).json()
        rotated = refresh(http, base, app, login["refresh_token"]).json()
        bystander = password_token(http, base, app).json()  # another family of the same user and client
        assert (login["access_token"].count(".") == 2) == (token_format == "stateless")
        assert _active(http, base, app, login["access_token"]) and _active(http, base, app, rotated["access_token"])
        assert_oauth_error(refresh(http, base, app, login["refresh_token"]), 400, "invalid_grant")  # replay
        assert not _active(http, base, app, login["access_token"])
        assert not _active(http, base, app, rotated["access_token"])
        info = http.get(f"{base}/tokeninfo", headers={"authorization": f"Bearer {rotated['access_token']}"})
        assert_oauth_error(info, 401, "invalid_token")
        assert_oauth_error(refresh(http, base, app, rotated["refresh_token"]), 400, "invalid_grant")
        assert _active(http, base, app, bystander["access_token"])
        assert refresh(http, base, app, bystander["refresh_token"]).status_code == 200


def test_revoking_a_refresh_token_deactivates_its_access_tokens(frozen_sql: tuple[Server, FrozenClock]) -> None:
    srv, _ = frozen_sql
    _, app = on_behalf_setup(srv.services)
    base = srv.realm_url("alpha")
    with srv.client() as http:
        login = password_token(http, base, app).json()
        rotated = refresh(http, base, app, login["refresh_token"]).json()
        other = password_token(http, base, app).json()
        r = http.post(f"{base}/token/revoke", data={"token": rotated["refresh_token"], **app.auth})
        assert r.status_code == 200
        assert not _active(http, base, app, login["access_token"])
        assert not _active(http, base, app, rotated["access_token"])
        assert _active(http, base, app, other["access_token"])


@pytest.mark.parametrize("stateless", [True, False])
def test_exchanged_tokens_die_with_the_family(frozen_sql: tuple[Server, FrozenClock], stateless: bool) -> None:
    srv, _ = frozen_sql
    agent, app = on_behalf_setup(srv.services, stateless=stateless)
    base = srv.realm_url("alpha")
    with srv.client() as http:
        login = password_token(http, base, app, scope="openid read-data").json()
        r = exchange(http, base, agent, login["access_token"], "digital-assistant-web-app", "read-data")
        assert r.status_code == 200, r.text
        delegated = r.json()["access_token"]
        assert (delegated.count(".") == 2) == stateless
        assert _active(http, base, app, delegated)
        refresh(http, base, app, login["refresh_token"])
        assert_oauth_error(refresh(http, base, app, login["refresh_token"]), 400, "invalid_grant")  # replay
        assert not _active(http, base, app, delegated)
