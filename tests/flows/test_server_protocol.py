"""The server protocol `credo serve` uses (one socket write per response) over real sockets: keep-alive,
pipelining and `Connection: close` all deliver complete responses."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from credo.app import build_app
from credo.cli.server_options import server_options
from credo.http.server_protocol import CoalescingHttpToolsProtocol
from credo.management.demo import ensure_demo
from tests import support

REALM = "/am/oauth2/realms/root/realms/alpha"


# uvicorn on a real socket: the server protocol's writes, keep-alive and pipelining are the point here.
@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    with support.make_storage("sqlite", tmp_path) as storage:
        port = support.free_port()
        app = build_app(support.test_settings(tmp_path), storage=storage, base_url=f"http://127.0.0.1:{port}")
        creds = {c.client_id: c.client_secret for c in ensure_demo(app.state.services)}
        with support.uvicorn_serving(app, port, **{**server_options(), "http": CoalescingHttpToolsProtocol}):
            yield f"http://127.0.0.1:{port}", creds


def _form(creds: dict[str, str]) -> bytes:
    return (f"grant_type=client_credentials&client_id=bench-client&client_secret={creds['bench-client']}"
            "&scope=data-read").encode()


def _raw_request(path: str, body: bytes, *, close: bool = False) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(body)}\r\n" + ("Connection: close\r\n" if close else "") + "\r\n").encode() + body


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_keep_alive_connection_serves_many_requests(served: tuple[str, dict[str, str]]) -> None:
    base, creds = served
    with httpx.Client(base_url=base, timeout=10) as http:
        for _ in range(20):
            r = http.post(f"{REALM}/access_token", content=_form(creds),
                          headers={"content-type": "application/x-www-form-urlencoded"})
            assert r.status_code == 200 and r.json()["token_type"] == "Bearer"
        r = http.get(f"{REALM}/.well-known/openid-configuration")
        assert r.status_code == 200 and r.json()["issuer"].endswith("/alpha")
        assert http.get("/nowhere").status_code == 404


def test_pipelined_requests_and_connection_close(served: tuple[str, dict[str, str]]) -> None:
    base, creds = served
    port = int(base.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(_raw_request(f"{REALM}/access_token", _form(creds)) * 3
                     + _raw_request(f"{REALM}/access_token", b"grant_type=x", close=True))
        data = _read_all(sock)  # ends only because the server closed after the last response
    assert data.count(b"HTTP/1.1 200 OK") == 3
    assert data.count(b"HTTP/1.1 401 Unauthorized") == 1
    assert data.endswith(b'"}') and b"invalid_client" in data.rsplit(b"\r\n\r\n", 1)[1]
