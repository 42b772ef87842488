"""Software statement keys from a jwks_uri go through the SSRF-guarded fetcher: a loopback URL is
refused (and never contacted) unless the deployment allows private addresses."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from credo.keys.remote_jwks import RemoteJwks
from tests.factories import SEED_BODY, Signer, assert_oauth_error, now, realm_settings
from tests.support import Server


class _Jwks:
    def __init__(self, jwks: dict[str, object]) -> None:
        self.hits = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.hits += 1
                body = json.dumps(jwks).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/jwks"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def signer_and_jwks() -> Iterator[tuple[Signer, _Jwks]]:
    signer = Signer()
    served = _Jwks(signer.jwks)
    yield signer, served
    served.httpd.shutdown()
    served.httpd.server_close()


def test_statement_keys_from_jwks_uri(sqlite_server: Server, sqlite_demo: dict[str, str],
                                      signer_and_jwks: tuple[Signer, _Jwks]) -> None:
    signer, served = signer_and_jwks
    base = sqlite_server.realm_url()
    realm_settings(sqlite_server.services, protection={"require_software_statement": True,
                                                 "software_statement_keys": {"jwks_uri": served.url}})
    statement = signer.sign({"iss": "https://issuer.example", "iat": now(), "software_id": "from-uri"})
    body = {**SEED_BODY, "software_statement": statement}
    with sqlite_server.client() as http:
        refused = http.post(f"{base}/register", json=body)
        assert_oauth_error(refused, 400, "unapproved_software_statement")
        assert served.hits == 0
        sqlite_server.services.remote_jwks = RemoteJwks(allow_private=True)
        ok = http.post(f"{base}/register", json=body)
        assert ok.status_code == 201, ok.text
        assert ok.json()["software_id"] == "from-uri" and served.hits == 1
        forged = Signer(kid=signer.kid).sign({"iss": "https://issuer.example", "iat": now()})
        assert_oauth_error(http.post(f"{base}/register", json={**SEED_BODY, "software_statement": forged}),
                     400, "invalid_software_statement")
