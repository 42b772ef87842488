"""Client authentication (RFC 6749 §2.3): exactly one method per request; a client with a secret may send
it in a Basic header or in the body unless an administrator pinned its method; a public client sends none,
a client with a secret always one; the same client in the header and the body; a disabled client is
refused like an unknown one."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest

from credo.management.clients import create_client, update_client
from credo.storage.memory import MemoryStorage
from tests.factories import pin_auth_method
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


def test_secret_sent_either_way(app: InProcess) -> None:
    """Libraries differ in their default (Authlib Basic, openid-client the body): both are accepted."""
    assert _post(app, {"client_id": "basic-client", "client_secret": SECRET}).status_code == 200
    demo = app.demo["demo-client"]  # registered client_secret_post
    assert _post(app, {}, _basic("demo-client", demo)).status_code == 200
    assert_error(_post(app, {"client_id": "basic-client", "client_secret": SECRET + "x"}), 401, "invalid_client")
    assert_error(_post(app, {}, _basic("demo-client", demo + "x")), 401, "invalid_client")


@pytest.mark.parametrize("pinned, other_way", [("basic-client", "body"), ("demo-client", "basic")])
def test_pinned_method_only(app: InProcess, pinned: str, other_way: str) -> None:
    secret = SECRET if pinned == "basic-client" else app.demo["demo-client"]
    body = {"client_id": pinned, "client_secret": secret}

    def send(way: str):  # type: ignore[no-untyped-def]
        return _post(app, body) if way == "body" else _post(app, {}, _basic(pinned, secret))

    pin_auth_method(app.services, "alpha", pinned)
    refused = send(other_way)
    assert_error(refused, 401, "invalid_client")
    assert refused.json()["error_description"].startswith("This client is registered for client_secret_")
    assert send("basic" if other_way == "body" else "body").status_code == 200
    pin_auth_method(app.services, "alpha", pinned, strict=False)
    assert send(other_way).status_code == 200


def test_public_and_confidential_never_trade_places(app: InProcess) -> None:
    """`none` stays `none`: a public client sending a secret is refused, and so is a client with a secret
    sending only its id, pinned or not."""
    create_client(app.services, "alpha", "public-client", auth_method="none", grant_types=("authorization_code",))
    data = {"grant_type": "authorization_code", "code": "x", "redirect_uri": "https://a.example/cb"}
    assert_error(app.post(f"{ALPHA}/access_token", data={**data, "client_id": "public-client",
                                                          "client_secret": SECRET}), 401, "invalid_client")
    assert_error(app.post(f"{ALPHA}/access_token", data=data, headers=_basic("public-client", SECRET)),
                 401, "invalid_client")
    assert_error(_post(app, {"client_id": "basic-client"}), 401, "invalid_client")


def test_disabled_client_refused(app: InProcess) -> None:
    update_client(app.services, "alpha", "basic-client", {"enabled": False})
    assert_error(_post(app, {}, _basic("basic-client", SECRET)), 401, "invalid_client")
