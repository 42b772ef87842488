"""A NUL character where a realm name or client id is looked up (a path segment, an HTTP Basic client
id) names nothing: the answer for an unknown realm or client, on every backend (PostgreSQL text cannot
hold NUL, which made these 500s), and a failed client authentication is counted by the throttle."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import pytest

from credo.app import build_app
from credo.management.demo import ensure_demo
from credo.storage.protocols import Storage
from tests import support

A = "/am/oauth2/realms/root/realms/alpha"


def _basic(raw: bytes) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(raw).decode()}


@pytest.fixture
def app(sql_storage: Storage, tmp_path: Path) -> object:
    built = build_app(support.test_settings(tmp_path), storage=sql_storage, base_url="http://credo.test")
    ensure_demo(built.state.services)
    return built


def test_nul_in_lookups_is_an_unknown_realm_or_client(app: object) -> None:
    async def calls() -> list[tuple[int, str]]:
        transport = httpx.ASGITransport(app=app, client=("198.51.100.9", 40000))  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://credo.test") as http:
            replies = [
                await http.get("/am/oauth2/realms/root/realms/al%00pha/.well-known/openid-configuration"),
                await http.post("/am/oauth2/realms/root/realms/al%00pha/access_token",
                                data={"grant_type": "client_credentials"}),
                await http.get(f"{A}/register/ab%00c", headers={"authorization": "Bearer x"}),
                await http.delete(f"{A}/register/ab%00c", headers={"authorization": "Bearer x"}),
                await http.post(f"{A}/access_token", data={"grant_type": "client_credentials"},
                                headers=_basic(b"a\x00b:secret")),
                await http.post(f"{A}/introspect", data={"token": "t"}, headers=_basic(b"a\x00b:secret")),
                await http.post(f"{A}/token/revoke", data={"token": "t"}, headers=_basic(b"a\x00b:secret")),
            ]
            for _ in range(10):  # the failures above and these count for (alpha, "a\0b", this address)
                await http.post(f"{A}/access_token", data={"grant_type": "client_credentials"},
                                headers=_basic(b"a\x00b:secret"))
            replies.append(await http.post(f"{A}/access_token", data={"grant_type": "client_credentials"},
                                           headers=_basic(b"a\x00b:secret")))
            return [(r.status_code, r.json()["error"]) for r in replies]

    assert support.run_async(calls()) == [
        (404, "not_found"), (404, "not_found"),
        (401, "invalid_token"), (401, "invalid_token"),
        (401, "invalid_client"), (401, "invalid_client"), (401, "invalid_client"),
        (429, "too_many_requests"),
    ]
