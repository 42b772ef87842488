"""The SSRF-guarded JWKS fetcher against a real loopback listener that counts connections.

Every refused target form must yield zero connections; responses that are huge, slow, redirects or
not JSON are cut off (for those the fetcher runs with allow_private=True so the fetch really happens).
"""

from __future__ import annotations

import ipaddress
import json
import socket
import socketserver
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from credo.keys.remote_jwks import RemoteJwks, RemoteJwksError, check_url

JWKS = {"keys": [{"kty": "EC", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
                  "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0", "kid": "k1"}]}


@dataclass
class Listener:
    port: int
    mode: str = "jwks"
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/jwks"


def _respond(listener: Listener, conn: socket.socket) -> None:
    mode = listener.mode
    head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
    if mode == "jwks":
        body = json.dumps(JWKS).encode()
        conn.sendall(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
    elif mode == "chunked":
        body = json.dumps(JWKS).encode()
        half = len(body) // 2
        conn.sendall(f"{head}Transfer-Encoding: chunked\r\n\r\n".encode()
                     + f"{half:x}\r\n".encode() + body[:half] + b"\r\n"
                     + f"{len(body) - half:x}\r\n".encode() + body[half:] + b"\r\n0\r\n\r\n")
    elif mode == "huge":
        conn.sendall(f"{head}Content-Length: {50_000_000}\r\n\r\n".encode())
        chunk = b"[" * 65536
        for _ in range(700):
            conn.sendall(chunk)
    elif mode == "slow":
        conn.sendall(f"{head}Content-Length: 100\r\n\r\n".encode())
        for _ in range(30):
            conn.sendall(b" ")
            time.sleep(1)
    elif mode == "slow-headers":
        for b in head.encode():
            conn.sendall(bytes([b]))
            time.sleep(1)
    elif mode == "nonjson":
        body = b"<html>not json</html>"
        conn.sendall(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
    elif mode == "nokeys":
        body = b'{"keys": "nope"}'
        conn.sendall(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
    elif mode == "redirect":
        conn.sendall(f"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:{listener.port}/jwks\r\n"
                     "Content-Length: 0\r\nConnection: close\r\n\r\n".encode())


@pytest.fixture
def listener() -> Iterator[Listener]:
    state = Listener(port=0)

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            with state.lock:
                state.connections += 1
            conn: socket.socket = self.request
            conn.settimeout(5)
            data = b""
            try:
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    data += chunk
                state.requests.append(data)
                _respond(state, conn)
            except OSError:
                return  # the client hung up: expected when it cuts a response off

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def refused_forms(port: int) -> list[str]:
    p = port
    return [
        f"http://127.0.0.1:{p}/jwks",  # plain http
        f"https://127.0.0.1:{p}/jwks",
        f"https://2130706433:{p}/jwks",  # decimal
        f"https://0x7f000001:{p}/jwks",  # hex
        f"https://017700000001:{p}/jwks",  # octal
        f"https://0177.0.0.1:{p}/jwks",
        f"https://0x7f.0.0.1:{p}/jwks",
        f"https://127.1:{p}/jwks",
        f"https://127.0.0.1.:{p}/jwks",
        f"https://localhost:{p}/jwks",  # a name resolving to loopback
        f"https://LOCALHOST:{p}/jwks",
        f"https://[::1]:{p}/jwks",
        f"https://[::ffff:127.0.0.1]:{p}/jwks",  # IPv4-mapped
        f"https://[::ffff:7f00:1]:{p}/jwks",
        f"https://[::127.0.0.1]:{p}/jwks",  # IPv4-compatible
        f"https://[0:0:0:0:0:ffff:7f00:0001]:{p}/jwks",
        f"https://0.0.0.0:{p}/jwks",  # unspecified
        f"https://0:{p}/jwks",
        f"https://[::]:{p}/jwks",
        "https://10.0.0.1/jwks", "https://10.255.255.255/jwks",
        "https://172.16.0.1/jwks", "https://172.31.255.254/jwks",
        "https://192.168.0.1/jwks",
        "https://169.254.169.254/latest/meta-data/", "https://[::ffff:169.254.169.254]/",
        "https://100.64.0.1/jwks", "https://100.127.255.254/jwks",  # CGNAT
        "https://224.0.0.1/jwks", "https://239.255.255.250/jwks", "https://[ff02::1]/jwks",  # multicast
        "https://[fc00::1]/jwks", "https://[fd12:3456::1]/jwks",  # ULA
        "https://[fe80::1]/jwks", "https://[fe80::1%25eth0]/jwks",  # link-local
        "https://[64:ff9b::a00:1]/jwks",  # NAT64 of 10.0.0.1
        "https://240.0.0.1/jwks", "https://255.255.255.255/jwks",  # reserved, broadcast
        f"https://user:pw@127.0.0.1:{p}/jwks", f"https://example.com@127.0.0.1:{p}/jwks",
        f"ftp://127.0.0.1:{p}/jwks", "file:///etc/passwd", f"gopher://127.0.0.1:{p}/", "jwks",
        f"https://127.0.0.1:{p}/jwks#frag", "https://1.2.3.256/", "https://08.0.0.1/",
        f"https://127.0.0.1:{p}\\@example.com/",
    ]


def test_every_refused_form_makes_no_connection(listener: Listener) -> None:
    fetcher = RemoteJwks(timeout=2)
    forms = refused_forms(listener.port)
    for url in forms:
        with pytest.raises(RemoteJwksError):
            fetcher.get(url)
    assert listener.connections == 0


@pytest.mark.parametrize("url, reason", [
    ("http://example.com/jwks", "only https URLs are allowed"),
    ("https://2130706433/", "address is not public"),
    ("https://[::ffff:10.0.0.1]/", "address is not public"),
    ("https://u:p@example.com/", "user information in the URL is not allowed"),
    ("https://1.2.3.256/", "numeric host is not a valid address"),
])
def test_check_url_reasons(url: str, reason: str) -> None:
    with pytest.raises(RemoteJwksError) as err:
        check_url(url)
    assert err.value.reason == reason


@pytest.mark.parametrize("url", ["https://8.8.8.8/jwks", "https://example.com/.well-known/jwks.json",
                                 "https://[2001:4860:4860::8888]/jwks", "https://93.184.216.34:8443/k?x=1"])
def test_check_url_accepts_public(url: str) -> None:
    target = check_url(url)
    assert target.scheme == "https"


def test_fetches_and_caches(listener: Listener) -> None:
    now = [1000.0]
    fetcher = RemoteJwks(timeout=3, ttl=300, allow_private=True, clock=lambda: now[0])
    assert fetcher.get(listener.url) == JWKS
    assert fetcher.get(listener.url) == JWKS
    assert listener.connections == 1
    request = listener.requests[0].decode()
    assert request.startswith("GET /jwks HTTP/1.1\r\n")
    assert f"Host: 127.0.0.1:{listener.port}\r\n" in request
    now[0] += 301
    assert fetcher.get(listener.url) == JWKS
    assert listener.connections == 2


def test_chunked_response(listener: Listener) -> None:
    listener.mode = "chunked"
    assert RemoteJwks(allow_private=True).get(listener.url) == JWKS


def _refused(listener: Listener, mode: str, reason: str, **kw: float) -> float:
    listener.mode = mode
    fetcher = RemoteJwks(allow_private=True, **kw)  # type: ignore[arg-type]
    start = time.monotonic()
    with pytest.raises(RemoteJwksError) as err:
        fetcher.get(listener.url)
    assert err.value.reason == reason
    return time.monotonic() - start


def test_huge_response_is_cut_off(listener: Listener) -> None:
    assert _refused(listener, "huge", "response too large", timeout=10) < 5


def test_slow_body_hits_the_total_deadline(listener: Listener) -> None:
    elapsed = _refused(listener, "slow", "timed out", timeout=1.5)
    assert 1.4 <= elapsed < 3.5


def test_slow_headers_hit_the_total_deadline(listener: Listener) -> None:
    elapsed = _refused(listener, "slow-headers", "timed out", timeout=1.5)
    assert 1.4 <= elapsed < 3.5


def test_non_json_refused(listener: Listener) -> None:
    _refused(listener, "nonjson", "response is not JSON")


def test_not_a_jwk_set_refused(listener: Listener) -> None:
    _refused(listener, "nokeys", "response is not a JWK Set")


def test_redirect_not_followed(listener: Listener) -> None:
    _refused(listener, "redirect", "redirect not followed (302)")
    assert listener.connections == 1


def test_the_name_is_resolved_once_and_the_address_pinned(listener: Listener,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A rebinding resolver answers loopback first and something else after: the fetcher asks once
    and connects to the first answer, sending the name as Host."""
    answers = iter(["127.0.0.1", "10.9.9.9", "10.9.9.9"])
    calls: list[str] = []
    real = socket.getaddrinfo

    def rebinding(host: str, port: int, *args: object, **kwargs: object) -> list[tuple[object, ...]]:
        if host != "jwks.rebind.test":
            return real(host, port, *args, **kwargs)  # type: ignore[arg-type]
        calls.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    fetcher = RemoteJwks(allow_private=True)
    assert fetcher.get(f"http://jwks.rebind.test:{listener.port}/jwks") == JWKS
    assert calls == ["jwks.rebind.test"]
    assert listener.connections == 1
    assert f"Host: jwks.rebind.test:{listener.port}\r\n" in listener.requests[0].decode()
    # With the guard on, a name resolving to a non-public address is refused before connecting.
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: [(socket.AF_INET, socket.SOCK_STREAM, 6, "",
                                                                 ("127.0.0.1", listener.port))])
    with pytest.raises(RemoteJwksError) as err:
        RemoteJwks().get(f"https://public-looking.example:{listener.port}/jwks")
    assert err.value.reason == "host resolves to a non-public address"
    assert listener.connections == 1


def test_connection_refused_is_an_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(RemoteJwksError) as err:
        RemoteJwks(allow_private=True).get(f"http://127.0.0.1:{port}/jwks")
    assert err.value.reason.startswith("connection failed")


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_https_certificate_is_verified(tmp_path: Path) -> None:
    """An https target with an untrusted (self-signed) certificate is refused after the handshake fails."""
    cert, key = _self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    handshakes: list[str] = []
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]

        def serve() -> None:
            conn, _ = server.accept()
            with conn:
                try:
                    with context.wrap_socket(conn, server_side=True):
                        handshakes.append("completed")
                except (ssl.SSLError, OSError):
                    handshakes.append("refused by the client")

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        with pytest.raises(RemoteJwksError) as err:
            RemoteJwks(allow_private=True).get(f"https://127.0.0.1:{port}/jwks")
        thread.join(5)
    assert err.value.reason == "connection failed (SSLCertVerificationError)"
    assert handshakes == ["refused by the client"]


# --- failures remembered, DNS inside the deadline, the pinned address over TLS ----------------------


def test_a_failed_fetch_is_remembered_briefly(listener: Listener) -> None:
    now = [1000.0]
    fetcher = RemoteJwks(allow_private=True, clock=lambda: now[0])
    listener.mode = "nonjson"
    with pytest.raises(RemoteJwksError) as first:
        fetcher.get(listener.url)
    assert first.value.reason == "response is not JSON" and not first.value.cached
    listener.mode = "jwks"  # the server recovers, but the failure is remembered for 30 seconds
    now[0] += 29
    with pytest.raises(RemoteJwksError) as again:
        fetcher.get(listener.url)
    assert again.value.reason == "response is not JSON" and again.value.cached
    assert listener.connections == 1
    now[0] += 2
    assert fetcher.get(listener.url) == JWKS
    assert listener.connections == 2


def test_an_unreachable_jwks_uri_costs_one_timeout_not_one_per_request(listener: Listener) -> None:
    listener.mode = "slow-headers"
    fetcher = RemoteJwks(allow_private=True, timeout=1.0)
    start = time.monotonic()
    for _ in range(5):
        with pytest.raises(RemoteJwksError) as err:
            fetcher.get(listener.url)
        assert err.value.reason == "timed out"
    assert time.monotonic() - start < 2.5
    assert listener.connections == 1


def _fake_dns(monkeypatch: pytest.MonkeyPatch, name: str, address: str, delay: float = 0.0) -> list[str]:
    calls: list[str] = []
    real = socket.getaddrinfo

    def resolver(host: str, port: int, *args: object, **kwargs: object) -> list[tuple[object, ...]]:
        if host != name:
            return real(host, port, *args, **kwargs)  # type: ignore[arg-type]
        calls.append(host)
        time.sleep(delay)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    return calls


def test_dns_time_counts_against_the_deadline(listener: Listener, monkeypatch: pytest.MonkeyPatch) -> None:
    """A resolver that never answers in time is cut off by the overall deadline, and a slow one leaves
    only the rest of the deadline for the connection."""
    _fake_dns(monkeypatch, "hung-dns.test", "127.0.0.1", delay=30)
    start = time.monotonic()
    with pytest.raises(RemoteJwksError) as err:
        RemoteJwks(allow_private=True, timeout=1.0).get(f"http://hung-dns.test:{listener.port}/jwks")
    assert err.value.reason == "timed out"
    assert time.monotonic() - start < 1.8
    assert listener.connections == 0
    _fake_dns(monkeypatch, "slow-dns.test", "127.0.0.1", delay=1.0)
    listener.mode = "slow"
    start = time.monotonic()
    with pytest.raises(RemoteJwksError) as err:
        RemoteJwks(allow_private=True, timeout=1.5).get(f"http://slow-dns.test:{listener.port}/jwks")
    assert err.value.reason == "timed out"
    assert 1.4 <= time.monotonic() - start < 2.2  # 1.0 s of DNS + 0.5 s of slow body, not 1.0 + 1.5
    assert listener.connections == 1


@pytest.mark.parametrize("answers", [["127.0.0.1"], ["93.184.216.34", "127.0.0.1"], ["10.0.0.7", "93.184.216.34"],
                                     ["::ffff:127.0.0.1"], ["169.254.169.254"]])
def test_a_name_with_any_non_public_address_is_refused(listener: Listener, monkeypatch: pytest.MonkeyPatch,
                                                       answers: list[str]) -> None:
    def resolver(host: str, port: int, *args: object, **kwargs: object) -> list[tuple[object, ...]]:
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
                for a in answers]

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    with pytest.raises(RemoteJwksError) as err:
        RemoteJwks().get(f"https://jwks.example:{listener.port}/jwks")
    assert err.value.reason == "host resolves to a non-public address"
    assert listener.connections == 0


def _tls_server(tmp: Path, cert_name: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context with a self-signed certificate for `cert_name`, client context trusting it)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cert_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(cert_name)]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp / f"{cert_name}.pem", tmp / f"{cert_name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_path, key_path)
    client = ssl.create_default_context()
    client.load_verify_locations(cert_path)
    return server, client


@pytest.mark.parametrize("cert_name, ok", [("jwks.pinned.test", True), ("other.pinned.test", False)])
def test_https_goes_to_the_pinned_address_with_the_name_as_sni_and_host(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cert_name: str, ok: bool) -> None:
    server_tls, client_tls = _tls_server(tmp_path, cert_name)
    seen: dict[str, object] = {}
    server_tls.sni_callback = lambda _sock, sni, _ctx: seen.__setitem__("sni", sni)  # type: ignore[assignment,func-returns-value]
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]

        def serve() -> None:
            conn, peer = server.accept()
            seen["peer"] = peer[0]
            try:
                with server_tls.wrap_socket(conn, server_side=True) as tls:
                    data = b""
                    while b"\r\n\r\n" not in data:
                        data += tls.recv(4096)
                    seen["request"] = data.decode()
                    body = json.dumps(JWKS).encode()
                    tls.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
            except (ssl.SSLError, OSError):
                seen["handshake"] = "refused by the client"

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        calls = _fake_dns(monkeypatch, "jwks.pinned.test", "127.0.0.1")
        fetcher = RemoteJwks(allow_private=True, tls=client_tls)
        url = f"https://jwks.pinned.test:{port}/jwks"
        if ok:
            assert fetcher.get(url) == JWKS
            assert f"Host: jwks.pinned.test:{port}\r\n" in str(seen["request"])
        else:
            with pytest.raises(RemoteJwksError) as err:
                fetcher.get(url)
            assert err.value.reason == "connection failed (SSLCertVerificationError)"
        thread.join(5)
    assert calls == ["jwks.pinned.test"]  # resolved once; the connection went to that answer
    assert seen["peer"] == "127.0.0.1" and seen["sni"] == "jwks.pinned.test"
