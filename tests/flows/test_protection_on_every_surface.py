"""Turning one registration protection method on never turns another off: the methods (software statement,
signed request body, registration policy, rate limit) switched on one after another, in every order,
through each surface an administrator uses — the CLI (`credo realm settings --set`), the admin API
(`PATCH .../settings`), the console's settings form (as a browser submits it, and a post that names only
the method's fields) and import (`PUT .../config`) — all stay on, and registration then demands each."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from itertools import permutations
from pathlib import Path
from typing import Any

import pytest

from credo.domain.settings import RegistrationProtection
from credo.management.demo import DEMO_SETTINGS
from credo.management.realms import ensure_realm, patch_settings
from tests.cli.test_cli_signin import run
from tests.factories import SEED_BODY, Signer, assert_oauth_error, now
from tests.http.admin_support import Admin, console_session, submit
from tests.support import InProcessServer, cli_data_dir

STATEMENT_KEYS, REQUEST_KEYS = Signer("statements"), Signer("requests")
PARTNER = "https://partner.example"
METHODS: dict[str, dict[str, Any]] = {
    "software statement": {"require_software_statement": True,
                           "software_statement_keys": {"jwks": STATEMENT_KEYS.jwks, "issuers": [PARTNER]}},
    "signed request": {"require_signed_request": True, "signed_request_keys": {"jwks": REQUEST_KEYS.jwks}},
    "policy": {"policy": {"allowed_redirect_hosts": ["app.example"], "max_clients": 50}},
    "rate limit": {"policy": {"rate_limit_per_minute": 600}},
}
FORM_FIELDS: dict[str, dict[str, str]] = {  # the console's fields of each method
    "software statement": {"require_software_statement": "on", "ss_jwks": json.dumps(STATEMENT_KEYS.jwks),
                           "ss_issuers": PARTNER},
    "signed request": {"require_signed_request": "on", "sr_jwks": json.dumps(REQUEST_KEYS.jwks)},
    "policy": {"policy_allowed_redirect_hosts": "app.example", "policy_max_clients": "50"},
    "rate limit": {"policy_rate_limit_per_minute": "600"},
}
SETTINGS = "/admin/r/alpha/settings"
Surface = Callable[[str], None]  # turns one method on


def _contains(actual: Any, wanted: Any) -> bool:
    if isinstance(wanted, dict):
        return isinstance(actual, dict) and all(k in actual and _contains(actual[k], v) for k, v in wanted.items())
    return bool(actual == wanted)


@pytest.fixture
def admin(sqlite_server: InProcessServer) -> Iterator[Admin]:
    ensure_realm(sqlite_server.services, "alpha", DEMO_SETTINGS)  # open registration: no initial access token
    admin = Admin(sqlite_server)
    yield admin
    admin.close()


@pytest.fixture
def surfaces(sqlite_server: InProcessServer, admin: Admin, tmp_path: Path,
             monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Surface]]:
    cli_data_dir(monkeypatch, tmp_path)  # the command line on the server's own SQLite file
    console, csrf = console_session(sqlite_server)

    def api(method: str) -> None:
        assert admin("PATCH", "/realms/alpha/settings", {"protection": METHODS[method]}).status_code == 200

    def imported(method: str) -> None:
        doc = {"realm": "alpha", "settings": {"protection": METHODS[method]}}
        assert admin("PUT", "/realms/alpha/config", doc).status_code == 200

    def browser(method: str) -> None:
        assert submit(console, SETTINGS, "settings-form", **FORM_FIELDS[method]).status_code == 303

    def partial_post(method: str) -> None:  # a post naming only this method's fields
        assert console.post(SETTINGS, data={"csrf": csrf, **FORM_FIELDS[method]}).status_code == 303

    yield {"cli": lambda method: run("realm", "settings", "alpha", "--set", json.dumps({"protection": METHODS[method]})),
           "admin API": api, "import": imported, "console form": browser, "console partial post": partial_post}
    console.close()


@pytest.mark.parametrize("surface", ["cli", "admin API", "import", "console form", "console partial post"])
def test_each_method_stays_on_whatever_the_order(sqlite_server: InProcessServer, surfaces: dict[str, Surface],
                                                 surface: str) -> None:
    services = sqlite_server.services
    for order in permutations(METHODS):
        patch_settings(services, "alpha", {"protection": None})  # every method off
        for step, method in enumerate(order, 1):
            surfaces[surface](method)
            protection = services.realm("alpha").settings.protection.model_dump(mode="json")
            for done in order[:step]:
                assert _contains(protection, METHODS[done]), (surface, order, step, done, protection)
    _registration_demands_every_method(sqlite_server)


def test_methods_turned_on_through_different_surfaces_all_stay_on(sqlite_server: InProcessServer,
                                                                  surfaces: dict[str, Surface]) -> None:
    for method, surface in zip(METHODS, ("console partial post", "cli", "admin API", "import"), strict=True):
        surfaces[surface](method)
    protection = sqlite_server.services.realm("alpha").settings.protection
    assert protection == RegistrationProtection.model_validate(
        {"require_software_statement": True, "software_statement_keys": METHODS["software statement"][
            "software_statement_keys"], **METHODS["signed request"],
         "policy": {**METHODS["policy"]["policy"], **METHODS["rate limit"]["policy"]}})
    _registration_demands_every_method(sqlite_server)


def _registration_demands_every_method(server: InProcessServer) -> None:
    """A plain anonymous registration, one signed but without a statement, and one with both but a redirect
    host the policy does not allow are each refused; one meeting every method is accepted."""
    base = server.realm_url("alpha")
    statement = STATEMENT_KEYS.sign({"iss": PARTNER, "client_name": "Partner agent"})
    body = {**SEED_BODY, "redirect_uris": ["https://app.example/cb"]}

    def signed(claims: dict[str, Any]) -> str:
        return REQUEST_KEYS.sign({"iss": PARTNER, "aud": f"{base}/register", "exp": now() + 300, "iat": now(),
                                  "jti": uuid.uuid4().hex, **claims})

    jose = {"Content-Type": "application/jose"}
    with server.client() as http:
        assert_oauth_error(http.post(f"{base}/register", json=body), 400, "invalid_request")
        assert_oauth_error(http.post(f"{base}/register", content=signed(body), headers=jose), 400,
                           "invalid_software_statement")
        far = {**body, "redirect_uris": ["https://elsewhere.example/cb"], "software_statement": statement}
        assert_oauth_error(http.post(f"{base}/register", content=signed(far), headers=jose), 400,
                           "invalid_client_metadata")
        ok = http.post(f"{base}/register", content=signed({**body, "software_statement": statement}), headers=jose)
        assert ok.status_code == 201, ok.text


def test_a_cleared_box_of_the_console_form_turns_its_setting_off(sqlite_server: InProcessServer,
                                                                 surfaces: dict[str, Surface], admin: Admin) -> None:
    for method in ("software statement", "signed request"):
        surfaces["console form"](method)
    console, _ = console_session(sqlite_server)
    grants = [g for g in sqlite_server.services.realm("alpha").settings.grant_types if g != "password"]
    r = submit(console, SETTINGS, "settings-form", require_signed_request=[], allow_open_registration=[],
                    grant_types=grants)
    assert r.status_code == 303, r.text
    console.close()
    settings = sqlite_server.services.realm("alpha").settings
    assert not settings.protection.require_signed_request and not settings.allow_open_registration
    assert settings.protection.require_software_statement and settings.protection.signed_request_keys.jwks
    assert "password" not in settings.grant_types and settings.grant_types == tuple(grants)
