"""Issue finding: a software statement's or signed request's key set was downloaded before anything of
the token was checked, so garbage cost an outbound fetch each. The token's shape and algorithm are now
checked first: a malformed one is refused without any fetch."""

from __future__ import annotations

import base64
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from credo.app import build_app
from credo.keys.remote_jwks import RemoteJwks
from credo.management.demo import ensure_demo
from credo.management.realms import update_settings
from tests import support
from tests.factories import SEED_BODY

FETCHES: list[str] = []


class _Jwks(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        FETCHES.append(self.path)
        body = b'{"keys": []}'
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def jwks_url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Jwks)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    finally:
        server.shutdown()


def _segment(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


@pytest.mark.parametrize("statement", [
    "not.a.jws!", f"{_segment({'alg': 'none'})}.{_segment({'iss': 'x'})}.",
    f"{_segment({'alg': 'HS256'})}.{_segment({'iss': 'x'})}.c2ln", f"{_segment({'alg': 'ES256', 'jku': 'https://x'})}.e30.c2ln"])
def test_a_malformed_statement_is_refused_without_fetching_keys(tmp_path: Path, jwks_url: str, statement: str) -> None:
    with support.make_storage("sqlite", tmp_path) as storage:
        app = build_app(support.test_settings(tmp_path), storage=storage, base_url="http://credo.test")
        services = app.state.services
        services.remote_jwks = RemoteJwks(allow_private=True)
        ensure_demo(services)
        update_settings(services, "alpha", {"protection": {"software_statement_keys": {"jwks_uri": jwks_url}}})
        FETCHES.clear()

        async def run() -> httpx.Response:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://credo.test") as http_client:
                return await http_client.post("/am/oauth2/realms/root/realms/alpha/register",
                                              json={**SEED_BODY, "software_statement": statement})

        r = support.run_async(run())
        assert r.status_code == 400 and r.json()["error"] == "invalid_software_statement", r.text
        assert FETCHES == []
