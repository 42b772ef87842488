"""Operations at the host root, and what every public request leaves behind.

- `/health/live`: 200 while the process serves requests (nothing else is checked).
- `/health/ready`: 200 when the database answers, its schema is at the migrations' head and the root
  realm's signing key is loaded (it signs); 503 naming the failing checks otherwise. The checks are the
  composition root's (`app.state.readiness`); they block, so they run through the blocking boundary.
- the metrics path (`CREDO_METRICS_PATH`, `/metrics` by default, empty: none): the Prometheus text format,
  to the networks of `CREDO_METRICS_ALLOW` only (404 to any other address).

`Observer.record` runs once per public request after its answer was sent (the dispatcher calls it): it
counts the request (endpoint, status, outcome, latency) and what the answer says happened — a token
issued (by grant), a token exchange allowed or denied, a registration, a throttled request, a database
error — and writes the access-log line. The core is not asked: these are read from the answer and from
the error the dispatcher rendered, so the core imports neither prometheus nor http.

Across worker processes the counts are correct through prometheus_client's multiprocess mode: `credo
serve --workers N` makes a fresh directory per start and names it in PROMETHEUS_MULTIPROC_DIR before the
workers start; every worker writes its counts to memory-mapped files there, and the worker answering a
scrape adds them up. Only counters and histograms are used (no gauges), so a worker that exits leaves
its counts, as a counter should. Without the variable (one process, tests) the counts live in the
application's own registry.

The access log is one JSON object per line on stderr. A request leaves its raw values; the lines are made
and written together at most 50 ms later (one write for all the requests of that time, not one per
request). A line holds no secret, token, password, code or assertion, no query string and no body: the endpoint's name, never the raw path; where a request
names a token (a bearer token, the token of an introspection or revocation), only the first 12 hex
digits of its SHA-256.
"""

from __future__ import annotations

import asyncio
import atexit
import hashlib
import os
import sys
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable
from ipaddress import IPv4Network, IPv6Network, ip_address
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Scope

from credo.domain.errors import OAuthError
from credo.domain.settings import (
    GRANT_AUTHORIZATION_CODE,
    GRANT_CLIENT_CREDENTIALS,
    GRANT_PASSWORD,
    GRANT_REFRESH_TOKEN,
    GRANT_TOKEN_EXCHANGE,
)
from credo.http.responses import json_response
from credo.storage.protocols import StorageUnavailable

Operation = Callable[[Request], Awaitable[Response]]
Readiness = Callable[[], dict[str, bool]]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
LIVE_PATH, READY_PATH = "/health/live", "/health/ready"
READY_TIMEOUT = 5.0  # seconds the readiness checks may take before the answer is "not ready"
HASH_PREFIX = 12  # hex digits of a token's SHA-256 in the access log
MAX_ID = 200  # characters of a client id or realm name (from the request) kept in the access log

# Scope keys a handler may set for the observer (the dispatcher's scope; no other channel).
GRANT_KEY, CLIENT_KEY, TOKEN_KEY = "credo.grant_type", "credo.client_id", "credo.token"

GRANT_LABELS = {GRANT_CLIENT_CREDENTIALS: "client_credentials", GRANT_PASSWORD: "password",
                GRANT_TOKEN_EXCHANGE: "token_exchange", GRANT_REFRESH_TOKEN: "refresh_token",
                GRANT_AUTHORIZATION_CODE: "authorization_code",
                "urn:ietf:params:oauth:grant-type:jwt-bearer": "jwt_bearer"}
REGISTRATIONS = {"register": "dcr", "aiagent/register": "agent"}  # endpoint -> kind (a POST answered 201)
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
FLUSH_DELAY = 0.05  # seconds a log line may wait to be written with the next ones
FLUSH_LINES = 256  # lines that are written at once, without waiting
SYNC_DELAY = 1.0  # seconds before a process's counts are added to the shared counters


def outcome_of(status: int, error: BaseException | None) -> str:
    """`ok`, or the RFC error code of the refusal (`not_found`, `method_not_allowed` for the router's)."""
    if error is None:
        return "ok" if status < 400 else "error"
    if isinstance(error, OAuthError):
        return error.error
    if isinstance(error, StorageUnavailable):
        return "temporarily_unavailable"
    if isinstance(error, HTTPException):
        return {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "invalid_request")
    if isinstance(error, ClientDisconnect):
        return "client_closed"
    return "server_error"


def token_hash(token: str) -> str:
    """What the access log says of a token: a prefix of its SHA-256, enough to find it, useless to use."""
    return hashlib.sha256(token.encode()).hexdigest()[:HASH_PREFIX]


def at_exit(method: Callable[[], None]) -> None:
    """Call `method` when the process exits, without keeping its object (and its application) alive."""
    ref = weakref.WeakMethod(method)

    def call() -> None:
        bound = ref()
        if bound is not None:
            bound()
    atexit.register(call)


def note_caller(scope: Scope, params: dict[str, str], basic: Any) -> None:
    """For the access log: the client id a request names (Basic, else the form's), never its secret."""
    client_id = basic.client_id if basic is not None and not basic.malformed else params.get("client_id")
    if client_id:
        scope[CLIENT_KEY] = client_id[:MAX_ID]


class Metrics:
    """The Prometheus metrics of one application (names in docs/operations.md)."""

    def __init__(self) -> None:
        self.multiprocess_dir = os.environ.get(MULTIPROC_ENV) or None
        self.registry = CollectorRegistry()  # per application: tests build several in one process
        r = self.registry
        self.requests = Counter("credo_http_requests", "Public requests answered, by endpoint, status and outcome.",
                                ["endpoint", "status", "outcome"], registry=r)
        self.latency = Histogram("credo_http_request_duration_seconds", "Time from dispatch to the answer sent.",
                                 ["endpoint"], buckets=BUCKETS, registry=r)
        self.tokens = Counter("credo_tokens_issued", "Tokens issued by the token endpoint, by grant.", ["grant"],
                              registry=r)
        self.exchanges = Counter("credo_token_exchanges", "Token exchanges, allowed (200) or denied (400/403).",
                                 ["decision"], registry=r)
        self.registrations = Counter("credo_registrations", "Clients registered (201), by kind: dcr, agent.",
                                     ["kind"], registry=r)
        self.throttled = Counter("credo_throttled_requests", "Requests refused with 429, by endpoint.",
                                 ["endpoint"], registry=r)
        self.database_errors = Counter("credo_database_errors", "Requests answered 503: the database failed.",
                                       ["endpoint"], registry=r)
        self.cache = Counter("credo_record_cache_lookups", "Record cache lookups, by result (hit, miss).",
                             ["result"], registry=r)
        self._children: dict[tuple[Any, ...], Any] = {}

    def child(self, metric: Any, *labels: str) -> Any:
        key = (metric, *labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found

    def exposition(self) -> bytes:
        """The text format: the counts of every worker (multiprocess mode), else this process's. Reads
        files in multiprocess mode: call it off the event loop."""
        if self.multiprocess_dir is None:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=self.multiprocess_dir)  # type: ignore[no-untyped-call]
        return generate_latest(registry)


Entry = tuple[float, str, str, str, int, str, float, str, Any, Any, Any]  # what a line is made of


class AccessLog:
    """JSON lines on stderr, buffered: written together at most FLUSH_DELAY seconds after the first of them
    (or at once when FLUSH_LINES are waiting, and at exit), in one write. A request leaves its raw values
    (`Entry`); the lines are made together when they are written (one tight loop for many lines costs
    less per line than a line made amid each request's own work)."""

    def __init__(self, pid: int | None = None) -> None:
        self.pid = pid if pid is not None else os.getpid()  # the worker: lines of several interleave
        self._pending: list[Entry] = []
        self._second = -1
        self._stamp = ""
        at_exit(self.flush)

    def timestamp(self, now: float) -> str:
        second = int(now)
        if second != self._second:
            self._second, self._stamp = second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._stamp}.{int((now - second) * 1000):03d}Z"

    def write(self, entry: Entry) -> None:
        pending = self._pending
        pending.append(entry)
        if len(pending) == 1:
            try:
                asyncio.get_running_loop().call_later(FLUSH_DELAY, self.flush)
            except RuntimeError:  # no loop (a synchronous caller): written at once
                self.flush()
        elif len(pending) >= FLUSH_LINES:
            self.flush()  # the timer finds nothing to write

    def line(self, entry: Entry) -> dict[str, Any]:
        """The access-log line: only values that are safe to keep (see the module docstring)."""
        now, method, endpoint, realm, status, outcome, seconds, source, client_id, grant, token = entry
        line: dict[str, Any] = {
            "ts": self.timestamp(now), "event": "access", "method": method, "endpoint": endpoint,
            "realm": realm[:MAX_ID], "status": status, "outcome": outcome, "duration_ms": round(seconds * 1000, 3),
            "source": source, "pid": self.pid}
        if client_id:
            line["client_id"] = client_id
        if grant:
            line["grant"] = GRANT_LABELS.get(grant, "other")
        if token:
            line["token_sha256"] = token_hash(token)
        return line

    def flush(self) -> None:
        if not self._pending:
            return
        entries, self._pending = self._pending, []
        dumps, line, option = orjson.dumps, self.line, orjson.OPT_APPEND_NEWLINE
        lines = b"".join([dumps(line(entry), option=option) for entry in entries])
        stream = sys.stderr
        buffer = getattr(stream, "buffer", None)
        try:
            if buffer is not None:
                stream.flush()  # what was printed before these lines comes first
                buffer.write(lines)
                buffer.flush()
            else:
                stream.write(lines.decode())
                stream.flush()
        except (OSError, ValueError):  # stderr closed: the requests were answered; the lines are lost
            pass


class Observer:
    """Counts every public request and writes its access-log line (either may be off).

    The latency is observed per request; the counts are added up in a plain dictionary and added to the
    Prometheus counters at most SYNC_DELAY seconds later (and before this process answers a scrape, and at
    exit), with the record cache's hits and misses: one counter update per label set and second instead of
    one per request."""

    def __init__(self, *, metrics: Metrics | None, access_log: AccessLog | None, cache: Any = None) -> None:
        self.metrics = metrics
        self.access_log = access_log
        self.cache = cache  # the record cache (hits, misses)
        self._counts: dict[tuple[Any, ...], int] = {}  # (counter, *labels) -> requests not yet added
        self._latency: dict[str, Any] = {}  # endpoint -> its histogram child
        self._synced = (0, 0)
        self._sync_pending = False
        if metrics is not None:
            at_exit(self.sync)  # a worker that stops adds what it counted last

    def record(self, scope: Scope, endpoint: str, status: int, error: BaseException | None, started: float) -> None:
        ended = time.perf_counter()
        outcome = ("ok" if status < 400 else "error") if error is None else outcome_of(status, error)
        metrics = self.metrics
        if metrics is not None:
            counts = self._counts
            key: tuple[Any, ...] = (metrics.requests, endpoint, status, outcome)
            counts[key] = counts.get(key, 0) + 1
            latency = self._latency.get(endpoint)
            if latency is None:
                latency = self._latency[endpoint] = metrics.latency.labels(endpoint)
            latency.observe(ended - started)
            if status == 429:
                key = (metrics.throttled, endpoint)
            elif status == 503 and isinstance(error, StorageUnavailable):
                key = (metrics.database_errors, endpoint)
            elif endpoint == "access_token":
                grant = GRANT_LABELS.get(scope.get(GRANT_KEY) or "", "other")
                if grant == "token_exchange" and status in (200, 400, 403):
                    key = (metrics.exchanges, "allow" if status == 200 else "deny")
                    counts[key] = counts.get(key, 0) + 1
                key = (metrics.tokens, grant) if status == 200 else ()
            elif status == 201 and endpoint in REGISTRATIONS:
                key = (metrics.registrations, REGISTRATIONS[endpoint])
            else:
                key = ()
            if key:
                counts[key] = counts.get(key, 0) + 1
            if not self._sync_pending:
                self._schedule_sync()
        if self.access_log is not None:
            self.access_log.write(self.entry(scope, endpoint, status, outcome, ended - started))

    @staticmethod
    def entry(scope: Scope, endpoint: str, status: int, outcome: str, seconds: float) -> Entry:
        client = scope.get("client")
        return (time.time(), scope["method"], endpoint, scope.get("path_params", {}).get("realm", "root"), status,
                outcome, seconds, client[0] if client else "", scope.get(CLIENT_KEY), scope.get(GRANT_KEY),
                scope.get(TOKEN_KEY))

    def _schedule_sync(self) -> None:
        try:
            asyncio.get_running_loop().call_later(SYNC_DELAY, self.sync)
            self._sync_pending = True
        except RuntimeError:  # no loop (a synchronous caller): at once
            self.sync()

    def sync(self) -> None:
        """Add the counts since the last sync to the Prometheus counters (shared by the workers)."""
        self._sync_pending = False
        metrics = self.metrics
        if metrics is None:
            return
        counts, self._counts = self._counts, {}
        for (counter, *labels), n in counts.items():
            metrics.child(counter, *(str(label) for label in labels)).inc(n)
        if self.cache is not None:
            hits, misses = self.cache.hits, self.cache.misses
            if hits != self._synced[0]:
                metrics.child(metrics.cache, "hit").inc(hits - self._synced[0])
            if misses != self._synced[1]:
                metrics.child(metrics.cache, "miss").inc(misses - self._synced[1])
            self._synced = (hits, misses)


# ---- the endpoints at the host root --------------------------------------------------------------------


def _get_only(request: Request) -> Response | None:
    if request.method in ("GET", "HEAD"):
        return None
    return json_response({"error": "method_not_allowed", "error_description": "Method Not Allowed"}, 405,
                         {"allow": "GET, HEAD"})


async def live(request: Request) -> Response:
    return _get_only(request) or json_response({"status": "ok"})


async def ready(request: Request) -> Response:
    refused = _get_only(request)
    if refused is not None:
        return refused
    state = request.app.state
    try:
        checks = await asyncio.wait_for(state.services.blocking.run(state.readiness), READY_TIMEOUT)
    except TimeoutError:
        checks = {"database": False, "migrations": False, "signing_key": False}
    ok = all(checks.values())
    return json_response({"status": "ok" if ok else "unavailable", "checks": checks}, 200 if ok else 503)


async def metrics(request: Request) -> Response:
    refused = _get_only(request)
    if refused is not None:
        return refused
    state = request.app.state
    if not allowed(request.client.host if request.client else "", state.metrics_networks):
        return json_response({"error": "not_found", "error_description": "Not Found"}, 404)
    observer: Observer = request.app.observer
    assert observer.metrics is not None
    observer.sync()  # this process's latest counts (the other workers' are at most SYNC_DELAY old)
    body = await state.services.blocking.run(observer.metrics.exposition)
    return Response(body, media_type=CONTENT_TYPE_LATEST, headers={"cache-control": "no-store"})


def allowed(host: str, networks: Iterable[IPv4Network | IPv6Network]) -> bool:
    """Whether a client address is in one of `networks` (no networks: any address)."""
    networks = tuple(networks)
    if not networks:
        return True
    try:
        address = ip_address(host)
    except ValueError:
        return False
    return any(address in network for network in networks)


def operations(metrics_path: str) -> dict[str, Operation]:
    """The host-root paths the dispatcher answers before any realm endpoint."""
    paths: dict[str, Operation] = {LIVE_PATH: live, READY_PATH: ready}
    if metrics_path:
        paths[metrics_path] = metrics
    return paths
