"""Registration rules (RFC 7591/7592): only a client-credentials token of the realm with `dcr_register`
is an initial access token; redirect URIs refuse fragments, user information and plain http off loopback;
an update that names a client_secret must name the right one; a registration writes its audit event."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from credo.domain.settings import GRANT_CLIENT_CREDENTIALS, GRANT_PASSWORD, GRANT_TOKEN_EXCHANGE
from credo.management.agents import create_agent, put_policy
from credo.management.applications import create_application
from credo.management.clients import create_client
from credo.management.realms import update_settings
from credo.management.users import create_user
from credo.storage.memory import MemoryStorage
from tests.pins.inprocess import ALPHA, InProcess, assert_error, in_process

BODY: dict[str, Any] = {"grant_types": ["client_credentials"], "scopes": ["data-read"], "client_name": "Pinned",
                        "token_endpoint_auth_method": "client_secret_post"}
SECRET = "registration-rules-secret-0123"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[InProcess]:
    with in_process(MemoryStorage(), tmp_path) as app:
        yield app


def _register(app: InProcess, body: dict[str, Any], token: str | None = None):  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return app.post(f"{ALPHA}/register", json=body, headers=headers)


def test_only_client_credentials_tokens_are_initial_access_tokens(app: InProcess) -> None:
    services = app.services
    update_settings(services, "alpha", {"allow_open_registration": False})
    create_client(services, "alpha", "iat-issuer", secret=SECRET, scopes=("dcr_register",), auth_method="client_secret_post")
    create_application(services, "alpha", "reg-app", name="Registration", app_type="web", secret=SECRET,
                       grant_types=(GRANT_CLIENT_CREDENTIALS, GRANT_PASSWORD), scopes=("dcr_register",))
    create_agent(services, "alpha", "reg-agent", name="Registration agent", secret=SECRET,
                 grant_types=(GRANT_TOKEN_EXCHANGE, GRANT_CLIENT_CREDENTIALS), scopes=("monitor",),
                 overrides_enabled=True, accept_audience=True)
    put_policy(services, "alpha", "reg-agent", "reg-app", permissions=("dcr_register",))
    create_user(services, "alpha", "reg.user", "reg-user-password-1")

    agent_token = app.token("reg-agent", SECRET, scope="monitor").json()["access_token"]
    exchanged = app.post(f"{ALPHA}/access_token", data={
        "grant_type": GRANT_TOKEN_EXCHANGE, "client_id": "reg-agent", "client_secret": SECRET,
        "subject_token": agent_token, "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
        "audience": "reg-app"})
    assert exchanged.status_code == 200 and exchanged.json()["scope"] == "dcr_register", exchanged.text
    assert_error(_register(app, BODY, exchanged.json()["access_token"]), 401, "invalid_token")

    user = app.post(f"{ALPHA}/access_token", data={"grant_type": "password", "username": "reg.user",
                                                   "password": "reg-user-password-1", "scope": "dcr_register",
                                                   "client_id": "reg-app", "client_secret": SECRET})
    assert user.status_code == 200, user.text
    assert_error(_register(app, BODY, user.json()["access_token"]), 401, "invalid_token")

    no_scope = app.token("reg-app", SECRET, scope="dcr_register")  # client credentials, with the scope: fine
    assert no_scope.status_code == 200
    assert _register(app, BODY, no_scope.json()["access_token"]).status_code == 201
    assert services.storage.clients.count("alpha", dynamic=True) == 1


@pytest.mark.parametrize("uri", ["https://client.example/cb#frag", "https://user@client.example/cb",
                                 "https://user:pw@client.example/cb", "http://client.example/cb",
                                 "http://127.0.0.1.client.example/cb"])
def test_redirect_uri_refused(app: InProcess, uri: str) -> None:
    r = _register(app, {**BODY, "redirect_uris": [uri]})
    assert_error(r, 400, "invalid_redirect_uri")


@pytest.mark.parametrize("uri", ["https://client.example/cb", "http://127.0.0.1:8080/cb", "http://localhost/cb",
                                 "http://[::1]/cb"])
def test_redirect_uri_accepted(app: InProcess, uri: str) -> None:
    r = _register(app, {**BODY, "redirect_uris": [uri]})
    assert r.status_code == 201, r.text
    assert r.json()["redirect_uris"] == [uri]


def test_update_with_the_wrong_client_secret_is_refused(app: InProcess) -> None:
    reg = _register(app, BODY).json()
    uri = f"{ALPHA}/register/{reg['client_id']}"
    auth = {"Authorization": f"Bearer {reg['registration_access_token']}"}
    wrong = app.run(app.http.put(uri, headers=auth, json={**BODY, "client_id": reg["client_id"],
                                                           "client_secret": "not-the-secret", "client_name": "X"}))
    assert_error(wrong, 400, "invalid_client_metadata")
    stored = app.services.storage.clients.get("alpha", reg["client_id"])
    assert stored is not None and stored.name == "Pinned"
    right = app.run(app.http.put(uri, headers=auth, json={**BODY, "client_id": reg["client_id"],
                                                           "client_secret": reg["client_secret"], "client_name": "Y"}))
    assert right.status_code == 200, right.text
    assert right.json()["client_name"] == "Y"


def test_registration_is_audited(app: InProcess) -> None:
    reg = _register(app, BODY)
    assert reg.status_code == 201
    events = app.services.storage.audit.query("alpha", action="dcr.register")
    assert [(e.target, e.actor, e.decision) for e in events] == [(reg.json()["client_id"], "anonymous", "allow")]
