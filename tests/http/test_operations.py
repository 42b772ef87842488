"""Operations in process: /health/live, /health/ready (a real PostgreSQL database made unreachable and
back), the metrics after a known sequence of requests, and the access log's redaction."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from credo.app import build_app
from credo.keys.datakeys import DataKeyLocked
from credo.management.agent_demo import DEMO_USER, ensure_agent_demo
from credo.management.demo import ensure_demo
from credo.storage.memory import MemoryStorage
from tests import support
from tests.factories import SEED_BODY
from tests.support import run_async

A = "/am/oauth2/realms/root/realms/alpha"
TE = "urn:ietf:params:oauth:grant-type:token-exchange"
AT = "urn:ietf:params:oauth:token-type:access_token"
LOOPBACK = ("127.0.0.1", 50000)


async def _calls(app: Any, calls: list[tuple[str, str, dict[str, Any]]],
                 client: tuple[str, int] = LOOPBACK) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=app, client=client)
    async with httpx.AsyncClient(transport=transport, base_url="http://credo.test") as http:
        return [await http.request(method, path, **kwargs) for method, path, kwargs in calls]


def call(app: Any, method: str, path: str, client: tuple[str, int] = LOOPBACK, **kwargs: Any) -> httpx.Response:
    return run_async(_calls(app, [(method, path, kwargs)], client))[0]


def samples(app: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = call(app, "GET", "/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.text) for s in family.samples}


def value(found: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def app(tmp_path: Path) -> Any:
    return build_app(support.test_settings(tmp_path, auth_failure_limit=1, access_log=True), storage=MemoryStorage(),
                     base_url="http://credo.test")


def test_live_and_ready_on_a_healthy_server(app: Any) -> None:
    live = call(app, "GET", "/health/live")
    assert (live.status_code, live.json()) == (200, {"status": "ok"})
    ready = call(app, "GET", "/health/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "checks": {"database": True, "migrations": True, "signing_key": True}}
    assert call(app, "HEAD", "/health/ready").status_code == 200
    assert call(app, "POST", "/health/live").status_code == 405
    assert call(app, "GET", "/am/oauth2/health/live").status_code == 404  # at the host root only


def test_ready_is_false_when_the_signing_key_cannot_be_loaded(tmp_path: Path) -> None:
    """The root realm's sealed private key is damaged: the server cannot sign, so it is not ready (a wrong
    master key is refused before the server starts at all)."""
    storage = MemoryStorage()
    app = build_app(support.test_settings(tmp_path), storage=storage, base_url="http://credo.test")
    assert call(app, "GET", "/health/ready").json()["checks"]["signing_key"] is True
    settings = support.test_settings(tmp_path).model_copy(update={"master_key": "another-master-key-0123456789abc"})
    with pytest.raises(DataKeyLocked):
        build_app(settings, storage=storage, base_url="http://credo.test")
    for key in storage.keys.all("root"):
        storage.keys.put(replace(key, private_key_encrypted=b"v1" + b"\0" * 60))
    damaged = build_app(support.test_settings(tmp_path), storage=storage, base_url="http://credo.test")
    ready = call(damaged, "GET", "/health/ready")
    assert ready.status_code == 503
    assert ready.json()["checks"] == {"database": True, "migrations": True, "signing_key": False}


def _sequence(app: Any) -> tuple[list[httpx.Response], list[str]]:
    """A known sequence of requests; returns the answers and every secret value the requests carried."""
    creds = {c.client_id: c.client_secret for c in ensure_demo(app.state.services) + ensure_agent_demo(app.state.services)}
    bench = {"client_id": "bench-client", "client_secret": creds["bench-client"]}
    bot = {"client_id": "bot-traffic-analyzer", "client_secret": creds["bot-traffic-analyzer"]}
    first = run_async(_calls(app, [
        ("POST", f"{A}/access_token", {"data": {"grant_type": "client_credentials", "scope": "data-read", **bench}}),
        ("POST", f"{A}/access_token", {"data": {"grant_type": "client_credentials", **bot}}),
        ("POST", f"{A}/access_token", {"data": {
            "grant_type": "password", "username": DEMO_USER, "password": creds[DEMO_USER], "scope": "read-data",
            "client_id": "digital-assistant-web-app", "client_secret": creds["digital-assistant-web-app"]}}),
    ]))
    assert [r.status_code for r in first] == [200, 200, 200], [r.text for r in first]
    cc_token, bot_token, user_token = (r.json()["access_token"] for r in first)
    exchange = {"grant_type": TE, "subject_token": bot_token, "subject_token_type": AT, "scope": "logs-read", **bot}
    assertion = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXNlY3JldA"
    code = "code-secret-4f1b2c3d4e5f60718293a4b5c6d7e8f9"
    rest = run_async(_calls(app, [
        ("POST", f"{A}/access_token", {"data": {**exchange, "audience": "access-log-api"}}),  # allowed
        ("POST", f"{A}/access_token", {"data": {**exchange, "audience": "no-such-api"}}),  # denied
        ("POST", f"{A}/register", {"json": SEED_BODY}),  # 201
        ("POST", f"{A}/introspect", {"data": {"token": cc_token, **bench}}),
        ("GET", f"{A}/register/some-client", {"headers": {"authorization": "Bearer junk-registration-token"}}),
        ("POST", f"{A}/access_token", {"data": {"grant_type": "authorization_code", "code": code,
                                                "redirect_uri": "https://example.com/cb", **bench}}),
        ("POST", f"{A}/access_token", {"data": {
            "grant_type": "client_credentials", "client_id": "no-such-client", "client_assertion": assertion,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}}),
        ("POST", f"{A}/access_token", {"data": {"grant_type": "client_credentials", "client_id": "bench-client",
                                                "client_secret": "wrong-secret-value-1"}}),  # 401
        ("POST", f"{A}/access_token", {"data": {"grant_type": "client_credentials", "client_id": "bench-client",
                                                "client_secret": "wrong-secret-value-2"}}),  # 429: limit 1
        ("GET", "/am/oauth2/no-such-endpoint?access_token=query-secret-token", {}),
    ]))
    statuses = [r.status_code for r in rest]
    assert statuses[:5] == [200, 400, 201, 200, 401], [r.text for r in rest]
    assert statuses[7:] == [401, 429, 404], [r.text for r in rest]
    registered = rest[2].json()
    secrets = [*creds.values(), cc_token, bot_token, user_token, rest[0].json()["access_token"], assertion, code,
               registered["client_secret"], registered["registration_access_token"], "junk-registration-token",
               "wrong-secret-value-1", "wrong-secret-value-2", "query-secret-token"]
    return [*first, *rest], [s for s in secrets if s]


def test_metrics_after_a_known_sequence(app: Any) -> None:
    _sequence(app)
    found = samples(app)
    assert value(found, "credo_tokens_issued_total", grant="client_credentials") == 2
    assert value(found, "credo_tokens_issued_total", grant="password") == 1
    assert value(found, "credo_tokens_issued_total", grant="token_exchange") == 1
    assert value(found, "credo_token_exchanges_total", decision="allow") == 1
    assert value(found, "credo_token_exchanges_total", decision="deny") == 1
    assert value(found, "credo_registrations_total", kind="dcr") == 1
    assert value(found, "credo_throttled_requests_total", endpoint="access_token") == 1
    assert value(found, "credo_http_requests_total", endpoint="access_token", status="200", outcome="ok") == 4
    assert value(found, "credo_http_requests_total", endpoint="access_token", status="401",
                 outcome="invalid_client") == 2
    assert value(found, "credo_http_requests_total", endpoint="access_token", status="429",
                 outcome="too_many_requests") == 1
    assert value(found, "credo_http_requests_total", endpoint="register", status="201", outcome="ok") == 1
    assert value(found, "credo_http_requests_total", endpoint="unknown", status="404", outcome="not_found") == 1
    assert value(found, "credo_http_request_duration_seconds_count", endpoint="access_token") == 9
    assert value(found, "credo_http_request_duration_seconds_bucket", endpoint="introspect", le="+Inf") == 1
    assert value(found, "credo_record_cache_lookups_total", result="hit") > 0
    assert value(found, "credo_record_cache_lookups_total", result="miss") > 0
    assert value(found, "credo_database_errors_total", endpoint="access_token") == 0
    # health and metrics requests are neither counted nor logged
    assert not [k for k in found if ("endpoint", "/metrics") in k[1] or ("endpoint", "/health/ready") in k[1]]


def test_metrics_only_to_the_allowed_networks_and_only_when_enabled(tmp_path: Path) -> None:
    app = build_app(support.test_settings(tmp_path), storage=MemoryStorage(), base_url="http://credo.test")
    assert call(app, "GET", "/metrics", client=("203.0.113.7", 4000)).status_code == 404
    assert call(app, "GET", "/metrics", client=("10.1.2.3", 4000)).status_code == 200
    assert call(app, "POST", "/metrics").status_code == 405
    moved = build_app(support.test_settings(tmp_path, metrics_path="/internal/prom", metrics_allow=""),
                      storage=MemoryStorage(), base_url="http://credo.test")
    assert call(moved, "GET", "/internal/prom", client=("203.0.113.7", 4000)).status_code == 200
    assert call(moved, "GET", "/metrics").status_code == 404
    off = build_app(support.test_settings(tmp_path, metrics_path=""), storage=MemoryStorage(),
                    base_url="http://credo.test")
    assert call(off, "GET", "/metrics").status_code == 404
    assert call(off, "GET", "/health/live").status_code == 200


@pytest.mark.parametrize("path", ["/am/oauth2/metrics", "/admin/metrics", "/health/metrics", "metrics", "/m/"])
def test_a_metrics_path_that_would_shadow_an_endpoint_is_refused(tmp_path: Path, path: str) -> None:
    with pytest.raises(ValueError, match="metrics_path"):
        support.test_settings(tmp_path, metrics_path=path)


def test_the_access_log_never_holds_a_secret(app: Any, capfd: pytest.CaptureFixture[str]) -> None:
    capfd.readouterr()
    responses, secrets = _sequence(app)
    app.observer.access_log.flush()  # lines wait up to 50 ms to be written together
    err = capfd.readouterr().err
    lines = [orjson.loads(line) for line in err.splitlines() if line.startswith('{"ts"')]
    assert len(lines) == len(responses)
    for secret in secrets:
        assert secret not in err, f"a secret reached the log: {secret[:6]}..."
    for word in ("password", "secret", "assertion", "code", "query"):
        assert not [line for line in lines if any(word in str(k) for k in line)], word
    by_endpoint = [(line["endpoint"], line["status"]) for line in lines]
    assert by_endpoint[:3] == [("access_token", 200)] * 3
    assert ("unknown", 404) in by_endpoint
    introspect = next(line for line in lines if line["endpoint"] == "introspect")
    token = responses[0].json()["access_token"]
    assert introspect["token_sha256"] == hashlib.sha256(token.encode()).hexdigest()[:12]
    assert introspect["client_id"] == "bench-client" and introspect["realm"] == "alpha"
    bearer = next(line for line in lines if line["endpoint"] == "register/{client_id}")
    assert bearer["token_sha256"] == hashlib.sha256(b"junk-registration-token").hexdigest()[:12]
    assert {"ts", "event", "method", "endpoint", "realm", "status", "outcome", "duration_ms", "source"} <= set(lines[0])
    assert lines[0]["grant"] == "client_credentials" and lines[0]["source"] == "127.0.0.1"


def test_the_access_log_is_off_by_a_setting(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    app = build_app(support.test_settings(tmp_path, access_log=False), storage=MemoryStorage(),
                    base_url="http://credo.test")
    capfd.readouterr()
    assert call(app, "GET", "/am/oauth2/.well-known/openid-configuration").status_code == 200
    assert app.observer.access_log is None
    assert '"event":"access"' not in capfd.readouterr().err


# ---- readiness against a real PostgreSQL database made unreachable, and back -----------------------------


def _rename(old: str, new: str) -> None:
    import psycopg

    with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres", autocommit=True) as conn:
        for _ in range(100):
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE datname = %s AND pid <> pg_backend_pid()", (old,))
            try:
                conn.execute(f'ALTER DATABASE "{old}" RENAME TO "{new}"')
                return
            except psycopg.errors.ObjectInUse:  # a pool reconnected in between
                time.sleep(0.05)
    raise AssertionError(f"could not rename {old}")


@pytest.fixture
def pg_url() -> Iterator[str]:
    if (reason := support.postgres_reachable()) is not None:
        pytest.skip(reason)
    with support.postgres_database() as url:
        yield url


@pytest.mark.postgres
def test_ready_follows_the_database(tmp_path: Path, pg_url: str) -> None:
    app = build_app(support.test_settings(tmp_path, database_url=pg_url), base_url="http://credo.test")
    creds = {c.client_id: c.client_secret for c in ensure_demo(app.state.services)}
    cc = urlencode({"grant_type": "client_credentials", "client_id": "bench-client",
                    "client_secret": creds["bench-client"], "scope": "data-read"})
    form = {"content-type": "application/x-www-form-urlencoded"}
    assert call(app, "GET", "/health/ready").status_code == 200
    name = pg_url.rsplit("/", 1)[1]
    _rename(name, name + "_away")
    try:
        down = call(app, "GET", "/health/ready")
        assert down.status_code == 503
        assert down.json() == {"status": "unavailable",
                               "checks": {"database": False, "migrations": False, "signing_key": True}}
        assert call(app, "GET", "/health/live").status_code == 200  # alive: the process still answers
        assert call(app, "POST", f"{A}/access_token", content=cc, headers=form).status_code == 503
        assert value(samples(app), "credo_database_errors_total", endpoint="access_token") == 1
    finally:
        _rename(name + "_away", name)
    back = call(app, "GET", "/health/ready")
    assert back.status_code == 200 and back.json()["status"] == "ok"
    app.state.services.storage.close()


def test_a_client_gone_before_its_body_was_read_is_no_server_error(app: Any,
                                                                     capfd: pytest.CaptureFixture[str]) -> None:
    """A load balancer or client that closes the connection before the request's body is read (the server
    was busy) leaves a 499 `client_closed` in the metrics and the access log, not a 500 and an error line."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": A + "/access_token", "raw_path": (A + "/access_token").encode(), "query_string": b"",
             "root_path": "", "headers": [(b"host", b"credo.test"), (b"content-type",
                                                                      b"application/x-www-form-urlencoded")],
             "client": LOOPBACK, "server": ("credo.test", 80)}
    ensure_demo(app.state.services)
    capfd.readouterr()
    run_async(app(scope, receive, send))
    app.observer.access_log.flush()
    err = capfd.readouterr().err
    assert sent[0]["status"] == 499
    lines = [orjson.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert [(x["status"], x["outcome"]) for x in lines if x.get("event") == "access"] == [(499, "client_closed")]
    assert not [x for x in lines if x.get("level") == "error"], err
    found = samples(app)
    assert value(found, "credo_http_requests_total", endpoint="access_token", status="499", outcome="client_closed") == 1
