"""Password grant (RFC 6749 §4.3) and rotating refresh tokens (§6) over real HTTP."""

from __future__ import annotations

from credo.domain.clock import FrozenClock
from credo.domain.settings import GRANT_CLIENT_CREDENTIALS, GRANT_PASSWORD, GRANT_REFRESH_TOKEN
from credo.management.applications import create_application, update_application
from credo.management.users import create_user, update_user
from tests.factories import (
    APP_SECRET,
    PASSWORD,
    USER_ID,
    USERNAME,
    Party,
    assert_oauth_error,
    on_behalf_setup,
    password_token,
    realm_settings,
    refresh,
    token,
)
from tests.support import Server

APP = "digital-assistant-web-app"


def test_bad_credentials_all_look_the_same(server: Server, demo: dict[str, str]) -> None:
    s = server.services
    _, app = on_behalf_setup(s)
    create_user(s, "alpha", "inactive.user", "inactive-password", active=False)
    base = server.realm_url("alpha")
    with server.client() as http:
        answers = [password_token(http, base, app, username=USERNAME, password="wrong-password"),
                   password_token(http, base, app, username="nobody", password=PASSWORD),
                   password_token(http, base, app, username="inactive.user", password="inactive-password")]
        for r in answers:
            assert_oauth_error(r, 400, "invalid_grant")
        assert len({r.text for r in answers}) == 1  # no hint which of the three it was
        assert password_token(http, base, app).status_code == 200


def test_missing_parameters_and_scopes(sqlite_server: Server, sqlite_demo: dict[str, str]) -> None:
    _, app = on_behalf_setup(sqlite_server.services)
    base = sqlite_server.realm_url("alpha")
    with sqlite_server.client() as http:
        assert_oauth_error(token(http, base, grant_type="password", password=PASSWORD, **app.auth), 400, "invalid_request")
        assert_oauth_error(token(http, base, grant_type="password", username=USERNAME, **app.auth), 400, "invalid_request")
        assert_oauth_error(token(http, base, grant_type="password", username=USERNAME, password="", **app.auth),
                     400, "invalid_request")
        assert_oauth_error(password_token(http, base, app, scope="openid monitor-system"), 400, "invalid_scope")
        r = password_token(http, base, app, scope="")
        assert r.status_code == 200 and r.json()["scope"] == "openid read-data write-data admin-action"


def test_grant_off_in_realm(sqlite_server: Server, sqlite_demo: dict[str, str]) -> None:
    s = sqlite_server.services
    # The root realm keeps the default settings: client credentials only.
    create_application(s, "root", "root-app", name="Root app", secret=APP_SECRET,
                       grant_types=(GRANT_CLIENT_CREDENTIALS, GRANT_PASSWORD), scopes=("openid",))
    create_user(s, "root", USERNAME, PASSWORD)
    with sqlite_server.client() as http:
        r = password_token(http, sqlite_server.realm_url("root"), Party("root-app", APP_SECRET))
        assert_oauth_error(r, 400, "unsupported_grant_type")


def test_client_without_the_grant(sqlite_server: Server, sqlite_demo: dict[str, str]) -> None:
    _, app = on_behalf_setup(sqlite_server.services)
    update_application(sqlite_server.services, "alpha", APP, {"grant_types": [GRANT_CLIENT_CREDENTIALS]})
    with sqlite_server.client() as http:
        assert_oauth_error(password_token(http, sqlite_server.realm_url("alpha"), app), 400, "unauthorized_client")


def test_the_realm_setting_decides_refresh_tokens(sqlite_server: Server, sqlite_demo: dict[str, str]) -> None:
    s = sqlite_server.services
    _, app = on_behalf_setup(s)
    update_application(s, "alpha", APP, {"grant_types": [GRANT_PASSWORD]})
    base = sqlite_server.realm_url("alpha")
    with sqlite_server.client() as http:
        # On (the default): issued although the client does not name the refresh grant, which it implies.
        earlier = password_token(http, base, app).json()["refresh_token"]
        assert refresh(http, base, app, earlier).status_code == 200
        earlier = password_token(http, base, app).json()["refresh_token"]
        realm_settings(s, "alpha", issue_refresh_tokens=False)
        body = password_token(http, base, app).json()
        assert "refresh_token" not in body and body["access_token"]
        # Off, nothing implies the refresh grant: the client must name it to redeem a token issued before.
        assert_oauth_error(refresh(http, base, app, earlier), 400, "unauthorized_client")
        update_application(s, "alpha", APP, {"grant_types": [GRANT_PASSWORD, GRANT_REFRESH_TOKEN]})
        assert refresh(http, base, app, earlier).status_code == 200
        assert "refresh_token" not in password_token(http, base, app).json()  # listing it issues none


def test_refresh_rotation(server: Server, demo: dict[str, str]) -> None:
    _, app = on_behalf_setup(server.services)
    base = server.realm_url("alpha")
    with server.client() as http:
        first = password_token(http, base, app, scope="openid read-data").json()["refresh_token"]
        # A wider scope is refused, and does not burn the refresh token.
        assert_oauth_error(refresh(http, base, app, first, "openid write-data"), 400, "invalid_scope")
        r = refresh(http, base, app, first, "read-data")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["scope"] == "read-data" and body["refresh_token"] != first
        info = http.post(f"{base}/introspect", data={"token": body["access_token"], **app.auth}).json()
        assert info["sub"] == USER_ID and info["auth_level"] == 0 and info["scope"] == "read-data"
        # The new one carries the narrowed scope and rotates again.
        second = body["refresh_token"]
        assert_oauth_error(refresh(http, base, app, second, "openid"), 400, "invalid_scope")
        third = refresh(http, base, app, second).json()
        assert third["scope"] == "read-data"
        # Replaying a rotated-away token is refused and revokes the whole family.
        assert_oauth_error(refresh(http, base, app, first), 400, "invalid_grant")
        assert_oauth_error(refresh(http, base, app, third["refresh_token"]), 400, "invalid_grant")
        assert_oauth_error(refresh(http, base, app, second), 400, "invalid_grant")
        # Presenting the tombstone's own key as a token gets nothing either.
        assert_oauth_error(refresh(http, base, app, "refresh-used:" + second), 400, "invalid_grant")
        # Another login starts a new, unaffected family.
        fresh = password_token(http, base, app).json()["refresh_token"]
        assert refresh(http, base, app, fresh).status_code == 200
        assert_oauth_error(refresh(http, base, app, "made-up-refresh-token"), 400, "invalid_grant")
        assert_oauth_error(token(http, base, grant_type="refresh_token", **app.auth), 400, "invalid_request")


def test_refresh_token_of_another_client_revocation_and_user(sqlite_server: Server,
                                                            sqlite_demo: dict[str, str]) -> None:
    s = sqlite_server.services
    _, app = on_behalf_setup(s)
    create_application(s, "alpha", "other-app", name="Other", secret=APP_SECRET,
                       grant_types=(GRANT_PASSWORD, "refresh_token"), scopes=("openid",))
    other = Party("other-app", APP_SECRET)
    base = sqlite_server.realm_url("alpha")
    with sqlite_server.client() as http:
        mine = password_token(http, base, app).json()["refresh_token"]
        assert_oauth_error(refresh(http, base, other, mine), 400, "invalid_grant")
        # Revoking someone else's refresh token is silently ignored; revoking one's own works.
        assert http.post(f"{base}/token/revoke", data={"token": mine, **other.auth}).status_code == 200
        assert refresh(http, base, app, mine).status_code == 200
        fresh = password_token(http, base, app).json()["refresh_token"]
        assert http.post(f"{base}/token/revoke", data={"token": fresh, **app.auth}).status_code == 200
        assert_oauth_error(refresh(http, base, app, fresh), 400, "invalid_grant")
        # A deactivated user's refresh tokens stop working.
        last = password_token(http, base, app).json()["refresh_token"]
        update_user(s, "alpha", USER_ID, active=False)
        assert_oauth_error(refresh(http, base, app, last), 400, "invalid_grant")


def test_refresh_token_expires(frozen: tuple[Server, FrozenClock]) -> None:
    srv, clock = frozen
    _, app = on_behalf_setup(srv.services)
    base = srv.realm_url("alpha")
    lifetime = srv.services.realm("alpha").settings.refresh_token_lifetime
    with srv.client() as http:
        a = password_token(http, base, app).json()["refresh_token"]
        b = password_token(http, base, app).json()["refresh_token"]
        clock.advance(lifetime - 1)
        assert refresh(http, base, app, a).status_code == 200
        clock.advance(1)
        assert_oauth_error(refresh(http, base, app, b), 400, "invalid_grant")
