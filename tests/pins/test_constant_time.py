"""Secrets and tokens are compared in constant time (`hmac.compare_digest`), never with `==`: a client
secret at the token endpoint and a registration access token at the RFC 7592 endpoint."""

from __future__ import annotations

import hmac
from pathlib import Path

import pytest

from credo.storage.memory import MemoryStorage
from tests.pins.inprocess import ALPHA, in_process


class _Spy:
    def __init__(self) -> None:
        self.calls: list[tuple[object, object]] = []
        self._real = hmac.compare_digest

    def __call__(self, a, b):  # type: ignore[no-untyped-def]
        self.calls.append((a, b))
        return self._real(a, b)

    def compared(self, value: str) -> bool:
        return any(value in (a, b) for a, b in self.calls)


def test_client_secret_compared_in_constant_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with in_process(MemoryStorage(), tmp_path) as app:
        stored = app.services.storage.clients.get("alpha", "demo-client")
        assert stored is not None and stored.secret_hash is not None and stored.secret_hash.startswith("h1$")
        spy = _Spy()
        monkeypatch.setattr(hmac, "compare_digest", spy)
        assert app.token("demo-client", app.demo["demo-client"]).status_code == 200
        assert spy.compared(stored.secret_hash[3:])
        spy.calls.clear()
        assert app.token("demo-client", "a-wrong-secret-a-wrong-secret").status_code == 401
        assert spy.compared(stored.secret_hash[3:])


def test_registration_access_token_compared_in_constant_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with in_process(MemoryStorage(), tmp_path) as app:
        reg = app.post(f"{ALPHA}/register", json={"grant_types": ["client_credentials"], "scopes": ["data-read"],
                                                   "token_endpoint_auth_method": "client_secret_post"})
        assert reg.status_code == 201, reg.text
        body = reg.json()
        stored = app.services.storage.clients.get("alpha", body["client_id"])
        assert stored is not None and stored.registration_token_hash is not None
        spy = _Spy()
        monkeypatch.setattr(hmac, "compare_digest", spy)
        uri = f"{ALPHA}/register/{body['client_id']}"
        wrong = app.get(uri, headers={"Authorization": "Bearer not-the-registration-token"})
        assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_token"
        assert spy.compared(stored.registration_token_hash)
        spy.calls.clear()
        right = app.get(uri, headers={"Authorization": f"Bearer {body['registration_access_token']}"})
        assert right.status_code == 200, right.text
        assert spy.compared(stored.registration_token_hash)
