"""Fetch a JSON document (a JWK Set, a Client ID Metadata Document) from a URL a client gave us, without
letting that URL reach inside our network.

The rules (server-side request forgery guard):
- `https` only; plain `http` only when `allow_private` is on (tests, closed networks);
- no user-info in the URL, no fragments;
- the host is resolved ONCE, in a worker thread, within the fetch's overall deadline; every address it
  resolves to must be public (not loopback, private, link-local incl. 169.254.169.254, CGNAT 100.64/10,
  multicast, unspecified, reserved, IPv6 ULA / link-local / loopback, or an IPv4-mapped / -compatible
  IPv6 form of those), and the connection goes to that resolved address, so a second DNS answer cannot
  rebind it; the name is still sent as the Host header and as TLS SNI, and the certificate is checked
  against it;
- numeric host forms (`2130706433`, `0x7f000001`, `017700000001`, `127.1`) are normalised first;
- redirects are not followed; every socket operation is bounded by one overall deadline (DNS
  included) and the response is cut off at `max_bytes`; it must be a JSON object that `parse` accepts
  (for `RemoteJwks`: a `keys` list);
- a successful fetch is cached for `ttl` seconds (or, with `honour_cache_headers`, for what the response's
  `Cache-Control: max-age` / `no-store` says, clamped to [`min_ttl`, `max_ttl`]), a failed one for
  `failure_ttl` seconds, so an unreachable URL costs one timeout per `failure_ttl`, not one per request;
- `refresh(url)` fetches again past the cache (a key set that does not hold a token's `kid` yet), at
  most once per `min_refresh` seconds per URL.

Test-only: `unsafe_test_resolve` maps host names under the reserved `.test` top-level domain (RFC 6761,
never resolvable on the internet) to loopback addresses, so a test can serve documents from a local HTTPS
server. Nothing else may be mapped, and the server setting that fills it says "unsafe" and "test only".

The HTTP client is httpx; its transport is httpcore's connection pool with a network backend that can
only connect to the pinned address and that applies the deadline and the size cap to every read.

`RemoteJwks.get` blocks (DNS, connect, read: up to `timeout` seconds on a cache miss); call it from a
worker thread, not on an event loop.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx
import orjson
from cachetools import TLRUCache

from credo.domain.values import value_object

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
HEADER_ALLOWANCE = 16 * 1024
CACHE_ENTRIES = 1024
FAILURE_TTL = 30.0  # seconds a failed fetch is remembered
DNS_THREADS = 8  # lookups in flight at once (a hung resolver holds one until it gives up)
REQUEST_HEADERS = {"Accept": "application/jwk-set+json, application/json", "Accept-Encoding": "identity",
                   "User-Agent": "credo-jwks-fetcher", "Connection": "close"}
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class RemoteJwksError(Exception):
    """The JWK Set could not be fetched safely; `reason` says why (safe to log, never contains data)."""

    def __init__(self, reason: str, *, cached: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.cached = cached  # a failure remembered from an earlier fetch, without a new attempt


@value_object
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


def resolve_once(target: Target, allow_private: bool, deadline: float | None = None) -> IPAddress:
    """The one address to connect to; every address the name resolves to must be public. The lookup
    runs in a daemon thread and counts against `deadline` (a time.monotonic() value)."""
    if target.ip is not None:
        return target.ip
    infos = _getaddrinfo_within(target.host, target.port, deadline)
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    if not addresses:
        raise RemoteJwksError("host does not resolve")
    if not allow_private and not all(is_public(a) for a in addresses):
        raise RemoteJwksError("host resolves to a non-public address")
    return addresses[0]


_dns_slots = threading.BoundedSemaphore(DNS_THREADS)


def _getaddrinfo_within(host: str, port: int, deadline: float | None) -> list[Any]:
    if not _dns_slots.acquire(timeout=_left(deadline)):
        raise RemoteJwksError("timed out")
    answer: list[Any] = []
    failure: list[BaseException] = []
    done = threading.Event()

    def lookup() -> None:
        try:
            answer.extend(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except BaseException as exc:  # handed to the waiting caller
            failure.append(exc)
        finally:
            done.set()
            _dns_slots.release()

    try:
        threading.Thread(target=lookup, name="credo-jwks-dns", daemon=True).start()
    except BaseException:
        _dns_slots.release()
        raise
    if not done.wait(_left(deadline)):
        raise RemoteJwksError("timed out")
    if failure:
        if isinstance(failure[0], OSError | UnicodeError):
            raise RemoteJwksError("host does not resolve") from failure[0]
        raise failure[0]
    return answer


def _left(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.monotonic())


@value_object
class _Remembered:
    jwks: dict[str, Any] | None
    reason: str | None  # set for a failed fetch
    ttl: float


TEST_TLD = ".test"  # RFC 6761: reserved, never delegated in the public DNS


def check_test_resolve(mapping: dict[str, str]) -> dict[str, IPAddress]:
    """The test-only host map, checked: names under `.test` only, loopback addresses only."""
    out: dict[str, IPAddress] = {}
    for name, address in mapping.items():
        host = name.lower().rstrip(".")
        if not host.endswith(TEST_TLD) or host == TEST_TLD[1:]:
            raise ValueError(f"{name!r}: only names under the reserved .test domain may be mapped")
        ip = ipaddress.ip_address(address)
        if not ip.is_loopback:
            raise ValueError(f"{name!r}: may be mapped only to a loopback address")
        out[host] = ip
    return out


class RemoteJson:
    """The SSRF-guarded fetcher of JSON documents named by clients (see the module docstring)."""

    def __init__(self, *, timeout: float = 3.0, max_bytes: int = 65536, ttl: int = 300, allow_private: bool = False,
                 clock: Callable[[], float] = time.monotonic, failure_ttl: float = FAILURE_TTL,
                 tls: ssl.SSLContext | None = None, parse: Callable[[bytes], dict[str, Any]] | None = None,
                 honour_cache_headers: bool = False, min_ttl: float = 60, max_ttl: float = 86400,
                 min_refresh: float = 10, unsafe_test_resolve: dict[str, str] | None = None,
                 user_agent: str = "credo-jwks-fetcher") -> None:
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.ttl = ttl
        self.failure_ttl = failure_ttl
        self.allow_private = allow_private
        self.honour_cache_headers = honour_cache_headers
        self.min_ttl, self.max_ttl, self.min_refresh = min_ttl, max_ttl, min_refresh
        self._parse = parse or parse_jwks
        self._clock = clock
        # Fetched documents and failures, each until its own expiry; past CACHE_ENTRIES URLs, expired
        # entries go first, then the least recently used.
        self._cache: TLRUCache[str, _Remembered] = TLRUCache(maxsize=CACHE_ENTRIES, ttu=_expiry, timer=clock)
        self._refreshed: TLRUCache[str, float] = TLRUCache(maxsize=CACHE_ENTRIES, ttu=self._refresh_expiry,
                                                             timer=clock)
        self._lock = threading.Lock()
        self._tls = tls or ssl.create_default_context()  # certificates checked against the name in the URL
        self._test_resolve = check_test_resolve(unsafe_test_resolve or {})
        self._headers = {**REQUEST_HEADERS, "User-Agent": user_agent}
        if parse is not None:
            self._headers["Accept"] = "application/json"

    def _refresh_expiry(self, _url: str, _value: float, now: float) -> float:
        return now + self.min_refresh

    def get(self, url: str) -> dict[str, Any]:
        """The document at `url` (cached, a failure for `failure_ttl`); raises RemoteJwksError."""
        with self._lock:
            hit = self._cache.get(url)
        if hit is not None:
            if hit.jwks is not None:
                return hit.jwks
            raise RemoteJwksError(hit.reason or "fetch failed", cached=True)
        return self._fetch_and_remember(url)

    def cached(self, url: str) -> dict[str, Any] | None:
        """The document at `url` if a successful fetch is cached, without any network access (callable on
        an event loop); None otherwise (call `get` off the loop)."""
        with self._lock:
            hit = self._cache.get(url)
        return hit.jwks if hit is not None else None

    def refresh(self, url: str) -> dict[str, Any]:
        """The document fetched again past the cache (a key set rotated since it was cached), at most once
        per `min_refresh` seconds per URL; within that, the cached answer."""
        with self._lock:
            recent = url in self._refreshed
            if not recent:
                self._refreshed[url] = self._clock()
        return self.get(url) if recent else self._fetch_and_remember(url)

    def _fetch_and_remember(self, url: str) -> dict[str, Any]:
        try:
            document, ttl = self._fetch(url)
        except RemoteJwksError as exc:
            with self._lock:
                self._cache[url] = _Remembered(None, exc.reason, self.failure_ttl)
            raise
        with self._lock:
            self._cache[url] = _Remembered(document, None, ttl)
        return document

    def _fetch(self, url: str) -> tuple[dict[str, Any], float]:
        target = check_url(url, self.allow_private)
        deadline = time.monotonic() + self.timeout
        mapped = self._test_resolve.get(target.host)
        ip = mapped if mapped is not None and target.scheme == "https" else \
            resolve_once(target, self.allow_private, deadline)
        body, cache_control = self._exchange(target, ip, deadline)
        return self._parse(body), self._ttl(cache_control)

    def _ttl(self, cache_control: str | None) -> float:
        if not self.honour_cache_headers:
            return self.ttl
        return cache_lifetime(cache_control, self.ttl, self.min_ttl, self.max_ttl)

    def _exchange(self, target: Target, ip: IPAddress, deadline: float) -> tuple[bytes, str | None]:
        # The URL is rebuilt from the checked target (numeric host forms normalised); the name in it is
        # what httpx sends as Host and SNI and checks the certificate against.
        url = f"{target.scheme}://{_authority(target)}{target.path}"
        backend = _PinnedBackend(ip, target.port, deadline, self.max_bytes + HEADER_ALLOWANCE)
        pool = httpcore.ConnectionPool(ssl_context=self._tls, network_backend=backend, max_connections=1,
                                       max_keepalive_connections=0, retries=0)
        try:
            with httpx.Client(transport=_Transport(pool), headers=self._headers, follow_redirects=False,
                              trust_env=False, timeout=self.timeout) as client, \
                    client.stream("GET", url) as response:
                return self._body(response), response.headers.get("cache-control")
        except RemoteJwksError:
            raise
        except (httpx.TimeoutException, httpcore.TimeoutException) as exc:
            raise RemoteJwksError("timed out") from exc
        except (httpx.HTTPError, httpcore.ProtocolError) as exc:
            if isinstance(exc, httpx.RemoteProtocolError | httpcore.RemoteProtocolError):
                raise RemoteJwksError("malformed HTTP response") from exc
            raise RemoteJwksError(f"connection failed ({_root_cause(exc)})") from exc
        except (httpcore.NetworkError, OSError) as exc:
            raise RemoteJwksError(f"connection failed ({_root_cause(exc)})") from exc

    def _body(self, response: httpx.Response) -> bytes:
        """Only 200 is accepted (redirects are not followed); the body is read raw, up to max_bytes."""
        status = response.status_code
        if status != 200:
            kind = "redirect not followed" if 300 <= status < 400 else "unexpected status"
            raise RemoteJwksError(f"{kind} ({status})")
        if response.headers.get("content-encoding", "identity").lower() != "identity":
            raise RemoteJwksError("compressed responses are not accepted")
        length = response.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            raise RemoteJwksError("response too large" if length.isdigit() else "malformed HTTP response")
        body = bytearray()
        for chunk in response.iter_raw():
            body += chunk
            if len(body) > self.max_bytes:
                raise RemoteJwksError("response too large")
        return bytes(body)


class RemoteJwks(RemoteJson):
    """Key sets behind `jwks_uri`: documents with a `keys` list, cached for `ttl` seconds."""


def cache_lifetime(cache_control: str | None, default: float, low: float, high: float) -> float:
    """Seconds to keep a document by its `Cache-Control` header, within [low, high]: `max-age`, or `low`
    for `no-store` / `no-cache` / `private` (the document is still used for this request and briefly after,
    so a client cannot make every request refetch it), `default` without the header."""
    if not cache_control:
        return max(low, min(high, default))
    seconds: float = default
    for directive in cache_control.lower().split(","):
        name, _, value = directive.strip().partition("=")
        if name in ("no-store", "no-cache"):
            return low
        if name == "max-age" and value.strip().strip('"').isdigit():
            seconds = int(value.strip().strip('"'))
    return max(low, min(high, seconds))


def parse_json_object(body: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RemoteJwksError("response is not JSON") from exc
    if not isinstance(value, dict):
        raise RemoteJwksError("response is not a JSON object")
    return value


def _authority(target: Target) -> str:
    host = f"[{target.host}]" if ":" in target.host else target.host
    default = 443 if target.scheme == "https" else 80
    return host if target.port == default else f"{host}:{target.port}"


def _expiry(_url: str, value: _Remembered, now: float) -> float:
    return now + value.ttl


def _root_cause(exc: BaseException) -> str:
    """The name of the innermost error (e.g. ConnectionRefusedError, SSLCertVerificationError)."""
    seen = exc
    while seen.__cause__ is not None or seen.__context__ is not None:
        seen = seen.__cause__ or seen.__context__  # type: ignore[assignment]
    return type(seen).__name__


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise httpcore.ReadTimeout("deadline passed")
    return left


def _bounded(timeout: float | None, deadline: float) -> float:
    left = _remaining(deadline)
    return left if timeout is None else min(timeout, left)


class _PinnedStream(httpcore.NetworkStream):
    """A connection whose every operation ends by the deadline and which reads at most `limit` bytes."""

    def __init__(self, inner: httpcore.NetworkStream, deadline: float, limit: int) -> None:
        self._inner = inner
        self._deadline = deadline
        self._left = limit

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        data = self._inner.read(max_bytes, _bounded(timeout, self._deadline))
        self._left -= len(data)
        if self._left < 0:
            raise RemoteJwksError("response too large")
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _bounded(timeout, self._deadline))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        inner = self._inner.start_tls(ssl_context, server_hostname, _bounded(timeout, self._deadline))
        return _PinnedStream(inner, self._deadline, self._left)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _PinnedBackend(httpcore.NetworkBackend):
    """Connects only to the address the name was resolved to once, whatever host the request names."""

    def __init__(self, ip: IPAddress, port: int, deadline: float, limit: int) -> None:
        self._ip = ip
        self._port = port
        self._deadline = deadline
        self._limit = limit
        self._inner = httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        if port != self._port:
            raise RemoteJwksError("connection to an unchecked port refused")
        inner = self._inner.connect_tcp(str(self._ip), port, _bounded(timeout, self._deadline),
                                        local_address, socket_options)
        return _PinnedStream(inner, self._deadline, self._limit)

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        raise RemoteJwksError("unix sockets are not allowed")

    def sleep(self, seconds: float) -> None:
        time.sleep(min(seconds, _remaining(self._deadline)))


class _Transport(httpx.BaseTransport):
    """httpx over an httpcore pool (the same hand-over httpx's own HTTPTransport does, with our backend)."""

    def __init__(self, pool: httpcore.ConnectionPool) -> None:
        self._pool = pool

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.SyncByteStream)
        response = self._pool.handle_request(httpcore.Request(
            method=request.method,
            url=httpcore.URL(scheme=request.url.raw_scheme, host=request.url.raw_host, port=request.url.port,
                             target=request.url.raw_path),
            headers=request.headers.raw, content=request.stream, extensions=request.extensions))
        assert isinstance(response.stream, Iterable)
        return httpx.Response(status_code=response.status, headers=response.headers,
                              stream=_ResponseStream(response.stream), extensions=response.extensions)

    def close(self) -> None:
        self._pool.close()


class _ResponseStream(httpx.SyncByteStream):
    def __init__(self, stream: Iterable[bytes]) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[bytes]:
        yield from self._stream

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()


def parse_jwks(body: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RemoteJwksError("response is not JSON") from exc
    if not isinstance(value, dict) or not isinstance(value.get("keys"), list) \
            or not all(isinstance(k, dict) for k in value["keys"]):
        raise RemoteJwksError("response is not a JWK Set")
    return value
