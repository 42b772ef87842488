"""The address the throttles count by is the socket's peer unless the operator trusts a proxy.

Served exactly as `credo serve` serves (its uvicorn options, a real socket): rotating `X-Forwarded-For`
does not escape the client-authentication limit; with `--proxy-headers --forwarded-allow-ips` the
forwarded address is believed from those proxies only, one address failing does not lock the client out
for the others, and failures spread over many addresses still meet the per-identity limit."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from credo.app import build_app
from credo.cli.main import app as cli
from credo.cli.server_options import server_options
from credo.management.demo import ensure_demo
from tests import support

REALM = "/am/oauth2/realms/root/realms/alpha"
WRONG = "wrong-" + "x" * 26


@contextmanager
def serve(tmp_path: Path, options: dict[str, Any], **settings: Any) -> Iterator[tuple[str, dict[str, str]]]:
    with support.make_storage("sqlite", tmp_path) as storage:
        port = support.free_port()
        app = build_app(support.test_settings(tmp_path, **settings), storage=storage,
                        base_url=f"http://127.0.0.1:{port}")
        creds = {c.client_id: c.client_secret for c in ensure_demo(app.state.services)}
        with support.uvicorn_serving(app, port, **options):
            yield f"http://127.0.0.1:{port}{REALM}", creds


def _cc(http: httpx.Client, base: str, secret: str, forwarded_for: str) -> httpx.Response:
    return http.post(f"{base}/access_token", headers={"x-forwarded-for": forwarded_for},
                     data={"grant_type": "client_credentials", "client_id": "demo-client",
                           "client_secret": secret, "scope": "data-read"})


def _status(r: httpx.Response) -> tuple[int, str | None]:
    return r.status_code, r.json().get("error")


def test_rotating_forwarded_for_does_not_escape_the_limit(tmp_path: Path) -> None:
    with serve(tmp_path, server_options()) as (base, _), httpx.Client(timeout=10) as http:
        answers = [_status(_cc(http, base, WRONG, f"203.0.113.{i}")) for i in range(11)]
    assert answers[:10] == [(401, "invalid_client")] * 10
    assert answers[10] == (429, "too_many_requests")


def test_trusted_proxy_counts_each_forwarded_address_apart(tmp_path: Path) -> None:
    options = server_options(proxy_headers=True, forwarded_allow_ips="127.0.0.1")
    with serve(tmp_path, options) as (base, creds), httpx.Client(timeout=10) as http:
        for _ in range(10):
            assert _status(_cc(http, base, WRONG, "203.0.113.7")) == (401, "invalid_client")
        assert _status(_cc(http, base, WRONG, "203.0.113.7")) == (429, "too_many_requests")
        # The client's own address behind the same proxy is not locked out by the attacker's failures.
        ok = _cc(http, base, creds["demo-client"], "198.51.100.20")
        assert ok.status_code == 200, ok.text


def test_guesses_spread_over_many_addresses_meet_the_identity_limit(tmp_path: Path) -> None:
    options = server_options(proxy_headers=True, forwarded_allow_ips="127.0.0.1")
    with serve(tmp_path, options, auth_identity_failure_limit=12) as (base, creds), \
            httpx.Client(timeout=10) as http:
        for i in range(12):  # one failure per address: no address reaches its own limit
            assert _status(_cc(http, base, WRONG, f"203.0.113.{i}")) == (401, "invalid_client")
        refused = _cc(http, base, creds["demo-client"], "198.51.100.99")  # even the right secret, anywhere
        assert _status(refused) == (429, "too_many_requests")
        assert 1 <= int(refused.headers["retry-after"]) <= 60


def test_proxy_headers_need_the_proxies_to_trust() -> None:
    with pytest.raises(ValueError, match="forwarded-allow-ips"):
        server_options(proxy_headers=True)
    assert server_options()["proxy_headers"] is False
    result = CliRunner().invoke(cli, ["serve", "--proxy-headers"])
    assert result.exit_code == 2
    assert "forwarded-allow-ips" in result.output
