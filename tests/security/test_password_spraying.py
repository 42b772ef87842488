"""Issue finding: password guesses were limited per username only, so one address could try a password on
every account. Failed logins are also counted per (client, address) over all usernames, and per client
over all addresses (the sign-in page counts as one client): past the limit, 429 even for a right password."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from credo.management.users import create_user
from tests.factories import PASSWORD, USERNAME, demo_secrets, on_behalf_setup, password_token
from tests.support import InProcessServer, in_process_server, make_storage


@pytest.fixture
def strict(tmp_path: Path) -> Iterator[InProcessServer]:
    with make_storage("sqlite", tmp_path) as storage, in_process_server(
            storage, tmp_path, login_spray_failure_limit=5, login_client_failure_limit=8) as server:
        demo_secrets(server.services)
        yield server


def test_one_address_spraying_many_usernames_is_stopped(strict: InProcessServer) -> None:
    _, app = on_behalf_setup(strict.services)
    base = strict.realm_url("alpha")
    with strict.client() as http:
        for i in range(5):
            r = password_token(http, base, app, username=f"user-{i}", password="Summer2026!")
            assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
        blocked = password_token(http, base, app)  # the right password of a real user
        assert blocked.status_code == 429 and blocked.json()["error"] == "too_many_requests"
    with strict.client(source="192.0.2.9") as other:  # another address still gets through
        assert password_token(other, base, app).status_code == 200


def test_spraying_through_one_client_from_many_addresses_is_stopped(strict: InProcessServer) -> None:
    _, app = on_behalf_setup(strict.services)
    create_user(strict.services, "alpha", "second.user", PASSWORD)
    base = strict.realm_url("alpha")
    for i in range(8):
        with strict.client(source=f"198.51.100.{i + 1}") as http:
            assert password_token(http, base, app, username=f"user-{i}", password="Summer2026!").status_code == 400
    with strict.client(source="203.0.113.50") as http:
        assert password_token(http, base, app, username=USERNAME).status_code == 429
