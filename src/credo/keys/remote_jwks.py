"""Fetch a JWK Set from a URL a client gave us, without letting that URL reach inside our network.

The rules (server-side request forgery guard):
- `https` only; plain `http` only when `allow_private` is on (tests, closed networks);
- no user-info in the URL, no fragments;
- the host is resolved ONCE; every address it resolves to must be public (not loopback, private,
  link-local incl. 169.254.169.254, CGNAT 100.64/10, multicast, unspecified, reserved, IPv6 ULA /
  link-local / loopback, or an IPv4-mapped / -compatible IPv6 form of those), and the connection goes
  to that resolved address, so a second DNS answer cannot rebind it; the name is still sent as the
  Host header and as TLS SNI, and the certificate is checked against it;
- numeric host forms (`2130706433`, `0x7f000001`, `017700000001`, `127.1`) are normalised first;
- redirects are not followed; the response is read with one overall deadline and cut off at
  `max_bytes`; it must be a JSON object with a `keys` list.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import ssl
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
HEADER_ALLOWANCE = 16 * 1024
CACHE_ENTRIES = 1024
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class RemoteJwksError(Exception):
    """The JWK Set could not be fetched safely; `reason` says why (safe to log, never contains data)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Target:
    scheme: str
    host: str  # the name as given (lowercase), or the normalised IP literal
    port: int
    path: str  # path and query, as sent in the request line
    ip: IPAddress | None  # set when the host was an IP literal


def _parse_ipv4_part(part: str) -> int:
    if part.lower().startswith("0x"):
        return int(part[2:] or "0", 16)
    if len(part) > 1 and part.startswith("0"):
        return int(part, 8)
    return int(part, 10)


def parse_ipv4_forms(host: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address of a numeric host in any classic inet_aton form, or None if not numeric.
    Raises RemoteJwksError for a numeric-looking host that is not a valid address."""
    parts = host.split(".")
    if parts and parts[-1] == "":
        parts = parts[:-1]  # a trailing dot
    if not parts or len(parts) > 4 or not all(p and _numeric(p) for p in parts):
        if parts and _numeric(parts[-1]):
            raise RemoteJwksError("numeric host is not a valid address")
        return None
    try:
        values = [_parse_ipv4_part(p) for p in parts]
    except ValueError as exc:
        raise RemoteJwksError("numeric host is not a valid address") from exc
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (4 - len(head)):
        raise RemoteJwksError("numeric host is not a valid address")
    number = 0
    for v in head:
        number = number * 256 + v
    number = number * 256 ** (4 - len(head)) + last
    return ipaddress.IPv4Address(number)


def _numeric(part: str) -> bool:
    low = part.lower()
    if low.startswith("0x"):
        return all(c in "0123456789abcdef" for c in low[2:])
    return part.isascii() and part.isdigit()


def is_public(ip: IPAddress) -> bool:
    """True only for globally routable unicast addresses."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or (ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
                                      if int(ip) >> 32 == 0 or ip in _NAT64 else None)
        if embedded is not None:
            return is_public(embedded)
        if ip.sixtofour is not None or ip.teredo is not None:
            return False
    if ip.is_multicast or ip.is_unspecified or ip.is_loopback or ip.is_link_local or ip.is_private \
            or ip.is_reserved or (isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT):
        return False
    return ip.is_global


def _host_ip(host: str) -> IPAddress | None:
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host.split("%")[0])
        except ValueError as exc:
            raise RemoteJwksError("malformed IPv6 host") from exc
    return parse_ipv4_forms(host)


def check_url(url: str, allow_private: bool = False) -> Target:
    """Validate a URL without any network access; raises RemoteJwksError."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise RemoteJwksError("malformed URL") from exc
    scheme = parts.scheme.lower()
    if scheme != "https" and not (scheme == "http" and allow_private):
        raise RemoteJwksError("only https URLs are allowed")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise RemoteJwksError("user information in the URL is not allowed")
    if parts.fragment:
        raise RemoteJwksError("fragments are not allowed")
    host = (parts.hostname or "").lower()
    if not host or any(c.isspace() for c in url) or "\\" in parts.netloc:
        raise RemoteJwksError("malformed URL")
    ip = _host_ip(host)
    if ip is not None and not allow_private and not is_public(ip):
        raise RemoteJwksError("address is not public")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(scheme, str(ip) if ip is not None else host, port or (443 if scheme == "https" else 80), path, ip)


def resolve_once(target: Target, allow_private: bool) -> IPAddress:
    """The one address to connect to; every address the name resolves to must be public."""
    if target.ip is not None:
        return target.ip
    try:
        infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise RemoteJwksError("host does not resolve") from exc
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    if not addresses:
        raise RemoteJwksError("host does not resolve")
    if not allow_private and not all(is_public(a) for a in addresses):
        raise RemoteJwksError("host resolves to a non-public address")
    return addresses[0]


class RemoteJwks:
    def __init__(self, *, timeout: float = 3.0, max_bytes: int = 65536, ttl: int = 300, allow_private: bool = False,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.ttl = ttl
        self.allow_private = allow_private
        self._clock = clock
        self._cache: OrderedDict[str, tuple[float, dict[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, url: str) -> dict[str, Any]:
        """The JWK Set at `url` (cached for `ttl` seconds); raises RemoteJwksError."""
        now = self._clock()
        with self._lock:
            hit = self._cache.get(url)
            if hit is not None and hit[0] > now:
                return hit[1]
        jwks = self._fetch(url)
        with self._lock:
            self._cache[url] = (now + self.ttl, jwks)
            self._cache.move_to_end(url)
            while len(self._cache) > CACHE_ENTRIES:
                self._cache.popitem(last=False)
        return jwks

    def _fetch(self, url: str) -> dict[str, Any]:
        target = check_url(url, self.allow_private)
        deadline = time.monotonic() + self.timeout
        ip = resolve_once(target, self.allow_private)
        raw = self._exchange(target, ip, deadline)
        return parse_jwks(decode_http_response(raw, self.max_bytes))

    def _exchange(self, target: Target, ip: IPAddress, deadline: float) -> bytes:
        request = (f"GET {target.path} HTTP/1.1\r\nHost: {_host_header(target)}\r\n"
                   "Accept: application/jwk-set+json, application/json\r\nAccept-Encoding: identity\r\n"
                   "User-Agent: credo-jwks-fetcher\r\nConnection: close\r\n\r\n").encode("ascii")
        limit = self.max_bytes + HEADER_ALLOWANCE
        try:
            with self._connect(target, ip, deadline) as sock:
                sock.sendall(request)
                return _read_until_closed(sock, deadline, limit)
        except RemoteJwksError:
            raise
        except (OSError, ssl.SSLError) as exc:
            raise RemoteJwksError(f"connection failed ({type(exc).__name__})") from exc

    def _connect(self, target: Target, ip: IPAddress, deadline: float) -> socket.socket:
        sock = socket.create_connection((str(ip), target.port), timeout=_remaining(deadline))
        if target.scheme != "https":
            return sock
        context = ssl.create_default_context()
        sock.settimeout(_remaining(deadline))
        return context.wrap_socket(sock, server_hostname=target.host)


def _host_header(target: Target) -> str:
    host = f"[{target.host}]" if ":" in target.host else target.host
    default = 443 if target.scheme == "https" else 80
    return host if target.port == default else f"{host}:{target.port}"


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise RemoteJwksError("timed out")
    return left


def _read_until_closed(sock: socket.socket, deadline: float, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        sock.settimeout(_remaining(deadline))
        try:
            chunk = sock.recv(16384)
        except TimeoutError as exc:
            raise RemoteJwksError("timed out") from exc
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise RemoteJwksError("response too large")
        chunks.append(chunk)


def decode_http_response(raw: bytes, max_bytes: int) -> bytes:
    """The body of a complete HTTP/1.1 response; only 200 is accepted (redirects are not followed)."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        raise RemoteJwksError("malformed HTTP response")
    lines = head.decode("latin-1").split("\r\n")
    status = lines[0].split(" ")
    if len(status) < 2 or not status[0].startswith("HTTP/1."):
        raise RemoteJwksError("malformed HTTP response")
    if status[1] != "200":
        kind = "redirect not followed" if status[1].startswith("3") else "unexpected status"
        raise RemoteJwksError(f"{kind} ({status[1][:3]})")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    if headers.get("content-encoding", "identity").lower() != "identity":
        raise RemoteJwksError("compressed responses are not accepted")
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = _dechunk(body)
    elif "content-length" in headers:
        length = headers["content-length"]
        if not length.isdigit() or int(length) > len(body):
            raise RemoteJwksError("truncated response")
        body = body[:int(length)]
    if len(body) > max_bytes:
        raise RemoteJwksError("response too large")
    return body


def _dechunk(body: bytes) -> bytes:
    out = bytearray()
    rest = body
    while True:
        line, sep, rest = rest.partition(b"\r\n")
        try:
            size = int(line.split(b";")[0].strip(), 16)
        except ValueError as exc:
            raise RemoteJwksError("malformed chunked body") from exc
        if not sep or size < 0 or len(rest) < size:
            raise RemoteJwksError("truncated response")
        if size == 0:
            return bytes(out)
        out += rest[:size]
        rest = rest[size + 2:]


def parse_jwks(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RemoteJwksError("response is not JSON") from exc
    if not isinstance(value, dict) or not isinstance(value.get("keys"), list) \
            or not all(isinstance(k, dict) for k in value["keys"]):
        raise RemoteJwksError("response is not a JWK Set")
    return value
