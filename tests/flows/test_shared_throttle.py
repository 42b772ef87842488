"""The failure throttles hold across server processes: two servers (as `credo serve --workers 2` runs
them) on one database count failed client authentications and failed password logins together, a
server started later (a restart) still refuses, and the window's end lets the client in again."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from credo.domain.clock import FrozenClock
from credo.management.clients import create_client
from credo.management.demo import ensure_demo
from credo.storage.sql.engine import make_engine
from credo.storage.sql.migrate import upgrade
from credo.storage.sql.store import SqlStorage
from tests.conftest import SQL_BACKENDS
from tests.factories import assert_oauth_error, client_credentials, on_behalf_setup, password_token
from tests.support import Server, in_process_server, shared_database_url

# The answer to a throttled attempt, exactly as a single process gives it.
THROTTLED = {"error": "too_many_requests", "error_description": "Too many requests; retry later."}


@dataclass
class Shared:
    url: str
    clock: FrozenClock
    tmp_path: Path
    stack: ExitStack

    def server(self, name: str, **settings: Any) -> Server:
        """Another server process on the same database, with its own engine, storage and caches."""
        engine = make_engine(self.url)
        upgrade(engine)
        storage = SqlStorage(engine)
        self.stack.callback(storage.close)
        (self.tmp_path / name).mkdir()
        return self.stack.enter_context(in_process_server(storage, self.tmp_path / name, clock=self.clock, **settings))


@pytest.fixture(params=SQL_BACKENDS)
def shared(request: pytest.FixtureRequest, tmp_path: Path, clock: FrozenClock) -> Iterator[Shared]:
    with ExitStack() as stack:
        url = stack.enter_context(shared_database_url(request.param, tmp_path))
        yield Shared(url, clock, tmp_path, stack)


def _assert_throttled(r: httpx.Response, window: int = 60) -> None:
    assert r.status_code == 429, r.text
    assert r.json() == THROTTLED
    assert r.headers["cache-control"] == "no-store"
    assert 1 <= int(r.headers["retry-after"]) <= window


def test_client_authentication_failures_count_in_every_process(shared: Shared) -> None:
    a, b = shared.server("a"), shared.server("b")
    ensure_demo(a.services)
    _, secret = create_client(a.services, "alpha", "throttled", scopes=("data-read",))
    assert secret is not None
    wrong = "wrong-" + "x" * 20
    limit = a.services.auth_throttle.limit
    assert limit == 10
    with a.client() as ha, b.client() as hb:
        for i in range(limit):  # alternately through each server: five failures in each
            http, srv = (ha, a) if i % 2 else (hb, b)
            assert_oauth_error(client_credentials(http, srv.realm_url(), "throttled", wrong), 401, "invalid_client")
        # Each server saw only five failures; together they reach the limit, and the right secret does
        # not help in either.
        _assert_throttled(client_credentials(ha, a.realm_url(), "throttled", secret))
        _assert_throttled(client_credentials(hb, b.realm_url(), "throttled", secret))
        # A server started now (a restart, or one more worker) refuses too: the count is in the database.
        c = shared.server("c")
        with c.client() as hc:
            _assert_throttled(client_credentials(hc, c.realm_url(), "throttled", secret))
            shared.clock.advance(60)  # the window moves past the failures: the client is let in again
            for http, srv in ((ha, a), (hb, b), (hc, c)):
                r = client_credentials(http, srv.realm_url(), "throttled", secret)
                assert r.status_code == 200, r.text


def test_failures_in_one_process_refuse_in_another_that_checks_every_time(shared: Shared) -> None:
    """With auth_failure_sync_interval=0 a server reads the others' new failures before every check: all
    failures through A, and B (which served the client before) refuses the right secret at once."""
    a, b = shared.server("a", auth_failure_sync_interval=0), shared.server("b", auth_failure_sync_interval=0)
    ensure_demo(a.services)
    _, secret = create_client(a.services, "alpha", "throttled", scopes=("data-read",))
    assert secret is not None
    with a.client() as ha, b.client() as hb:
        assert client_credentials(hb, b.realm_url(), "throttled", secret).status_code == 200
        for _ in range(9):
            assert_oauth_error(client_credentials(ha, a.realm_url(), "throttled", "wrong-" + "x" * 20), 401, "invalid_client")
        assert client_credentials(hb, b.realm_url(), "throttled", secret).status_code == 200  # nine: not yet
        assert_oauth_error(client_credentials(ha, a.realm_url(), "throttled", "wrong-" + "x" * 20), 401, "invalid_client")
        _assert_throttled(client_credentials(hb, b.realm_url(), "throttled", secret))
        shared.clock.advance(59)
        _assert_throttled(client_credentials(hb, b.realm_url(), "throttled", secret))
        shared.clock.advance(1)
        assert client_credentials(hb, b.realm_url(), "throttled", secret).status_code == 200


def test_password_login_failures_count_in_every_process(shared: Shared) -> None:
    a, b = shared.server("a"), shared.server("b")
    ensure_demo(a.services)
    _, app = on_behalf_setup(a.services)
    limit = a.services.login_throttle.limit
    with a.client() as ha, b.client() as hb:
        for i in range(limit):
            http, srv = (ha, a) if i % 2 else (hb, b)
            r = password_token(http, srv.realm_url(), app, password="wrong-password")
            assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text
        _assert_throttled(password_token(ha, a.realm_url(), app))
        _assert_throttled(password_token(hb, b.realm_url(), app))
        shared.clock.advance(60)
        assert password_token(ha, a.realm_url(), app).status_code == 200
        assert password_token(hb, b.realm_url(), app).status_code == 200
