"""A refused request's log line says which endpoint and realm refused it (an operator reading the log
of a real server process can tell a token-endpoint refusal from a registration one)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.procs import cli, credo_server


def test_refusal_log_names_endpoint_and_realm(tmp_path: Path) -> None:
    cli(tmp_path, "realm", "create", "alpha")
    log = tmp_path / "server.log"
    with credo_server(tmp_path, log=log) as srv, httpx.Client(timeout=30) as http:
        r = http.post(f"{srv.realm_url('alpha')}/access_token", data={"client_id": "x", "client_secret": "y"})
        assert r.status_code == 401 and r.json()["error"] == "invalid_client"
        r = http.post(f"{srv.realm_url('root')}/register", json={})
        assert r.status_code == 401 and r.json()["error"] == "invalid_token"
        r = http.get(f"{srv.realm_url('alpha')}/tokeninfo", params={"access_token": "tok-in-query-0123456789"})
        assert r.status_code == 401
    refused = [json.loads(line) for line in log.read_text().splitlines()
               if line.startswith("{") and '"request_refused"' in line]
    where = [(e["endpoint"], e["realm"], e["error"]) for e in refused]
    assert where == [("token", "alpha", "invalid_client"), ("register_client", "root", "invalid_token"),
                     ("tokeninfo", "alpha", "invalid_token")]
    assert "tok-in-query" not in log.read_text()
