"""Administrator accounts: the first-start admin, sign-in, token expiry, the session cookie flags."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.responses import Response

from credo.admin.session import COOKIE, csrf_ok, csrf_token, set_session
from credo.cli.admin import print_first_admin
from credo.domain.clock import FrozenClock
from credo.domain.errors import InvalidGrant, InvalidRequest, InvalidToken
from credo.management.admins import authenticate, bootstrap_admin, create_admin, login, logout
from credo.storage.memory import MemoryStorage
from tests.support import services_for


def test_first_start_creates_one_admin_and_prints_the_password_once(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    services = services_for(MemoryStorage(), tmp_path)
    print_first_admin(services)
    err = capsys.readouterr().err
    password = err.split("one-time password\n\n    ", 1)[1].split("\n", 1)[0]
    admin = services.storage.admins.get("admin")
    assert admin is not None and admin.must_change_password and password not in admin.password_hash
    assert admin.password_hash.startswith("argon2$") and len(password) >= 20
    assert authenticate(services, login(services, "admin", password)) == "admin"
    print_first_admin(services)
    assert capsys.readouterr().err == ""
    assert bootstrap_admin(services) is None and len(services.storage.admins.all()) == 1


def test_login_tokens_expire_and_log_out(tmp_path: Path) -> None:
    clock = FrozenClock()
    services = services_for(MemoryStorage(), tmp_path, clock=clock)
    create_admin(services, "ops", "a-long-admin-password")
    with pytest.raises(InvalidGrant):
        login(services, "ops", "wrong-password-here")
    with pytest.raises(InvalidGrant):
        login(services, "ghost", "a-long-admin-password")
    token = login(services, "ops", "a-long-admin-password")
    record = services.storage.tokens.get(services.hasher.keyed_hash(token))
    assert record is not None and record.sub == "ops" and services.storage.tokens.get(token) is None
    clock.advance(3599)
    assert authenticate(services, token) == "ops"
    logout(services, token)
    with pytest.raises(InvalidToken):
        authenticate(services, token)
    token = login(services, "ops", "a-long-admin-password")
    clock.advance(3600)
    with pytest.raises(InvalidToken):
        authenticate(services, token)
    with pytest.raises(InvalidToken):
        authenticate(services, "")


@pytest.mark.parametrize("username, password, field", [("bad name", "a-long-admin-password", "username"),
                                                        ("ok", "short", "password")])
def test_create_admin_refuses_bad_input(tmp_path: Path, username: str, password: str, field: str) -> None:
    services = services_for(MemoryStorage(), tmp_path)
    with pytest.raises(InvalidRequest) as caught:
        create_admin(services, username, password)
    assert caught.value.description.startswith(f"{field}:")
    assert services.storage.admins.all() == []


@pytest.mark.parametrize("base_url, secure", [("https://id.example.com", True), ("http://127.0.0.1:8080", False)])
def test_session_cookie_flags(tmp_path: Path, base_url: str, secure: bool) -> None:
    services = services_for(MemoryStorage(), tmp_path)
    services.base_url = base_url
    response = Response()
    set_session(services, response, "admin-token-value")
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/admin" in cookie
    assert ("Secure" in cookie) is secure


def test_csrf_token_is_bound_to_the_session(tmp_path: Path) -> None:
    services = services_for(MemoryStorage(), tmp_path)
    token = csrf_token(services, "session-a")
    assert csrf_ok(services, "session-a", token)
    assert not csrf_ok(services, "session-b", token)
    assert not csrf_ok(services, "session-a", None)
    assert not csrf_ok(services, "session-a", "")


def test_change_password_checks_the_current_one(tmp_path: Path) -> None:
    from credo.management.admins import change_password

    services = services_for(MemoryStorage(), tmp_path)
    _, plain = create_admin(services, "ops")
    for current, new, field in ((plain + "x", "another-long-password", "current_password"),
                                (plain, "short", "new_password"), (plain, plain, "new_password")):
        with pytest.raises(InvalidRequest) as caught:
            change_password(services, "ops", current, new)
        assert caught.value.description.startswith(f"{field}:")
    change_password(services, "ops", plain, "another-long-password", actor="ops")
    admin = services.storage.admins.get("ops")
    assert admin is not None and not admin.must_change_password
    assert services.hasher.verify("another-long-password", admin.password_hash)
    assert not services.hasher.verify(plain, admin.password_hash)
