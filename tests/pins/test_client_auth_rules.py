"""Client authentication (RFC 6749 §2.3): exactly one method per request, the one the client registered,
the same client in the header and the body; a disabled client is refused like an unknown one."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest

from credo.management.clients import create_client, update_client
from credo.storage.memory import MemoryStorage
from tests.pins.inprocess import ALPHA, InProcess, assert_error, in_process

SECRET = "basic-client-secret-0123456789"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[InProcess]:
    with in_process(MemoryStorage(), tmp_path) as app:
        create_client(app.services, "alpha", "basic-client", secret=SECRET, scopes=("data-read",),
                      auth_method="client_secret_basic")
        yield app


def _basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def _post(app: InProcess, data: dict[str, str], headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return app.post(f"{ALPHA}/access_token", data={"grant_type": "client_credentials", **data}, headers=headers or {})


def test_basic_alone_works(app: InProcess) -> None:
    r = _post(app, {}, _basic("basic-client", SECRET))
    assert r.status_code == 200, r.text


def test_basic_plus_body_secret_is_two_methods(app: InProcess) -> None:
    assert_error(_post(app, {"client_secret": SECRET}, _basic("basic-client", SECRET)), 401, "invalid_client")


def test_body_client_id_must_match_basic(app: InProcess) -> None:
    assert _post(app, {"client_id": "basic-client"}, _basic("basic-client", SECRET)).status_code == 200
    assert_error(_post(app, {"client_id": "demo-client"}, _basic("basic-client", SECRET)), 401, "invalid_client")


def test_registered_method_only(app: InProcess) -> None:
    assert_error(_post(app, {"client_id": "basic-client", "client_secret": SECRET}), 401, "invalid_client")
    demo = app.demo["demo-client"]  # registered client_secret_post
    assert_error(_post(app, {}, _basic("demo-client", demo)), 401, "invalid_client")


def test_disabled_client_refused(app: InProcess) -> None:
    update_client(app.services, "alpha", "basic-client", {"enabled": False})
    assert_error(_post(app, {}, _basic("basic-client", SECRET)), 401, "invalid_client")
