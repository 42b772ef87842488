"""`credo serve` as a real process: with two workers, the start-up line, metrics counted across both workers,
the access log of both, and a graceful shutdown (a request in flight when SIGTERM arrives completes with
200); with one, the shutdown line and status 0 after SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.procs import _wait_ready, cli, cli_json, credo_env
from tests.support import free_port

DISCOVERY = "/am/oauth2/.well-known/openid-configuration"
TOKEN = "/am/oauth2/access_token"


def _lines(path: Path) -> list[dict[str, Any]]:
    found = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                found.append(json.loads(line))
            except ValueError:
                pass
    return found


def _metric(text: str, name: str, **labels: str) -> float:
    return sum(s.value for family in text_string_to_metric_families(text) for s in family.samples
               if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


def _fresh_get(url: str) -> int:
    with httpx.Client() as http:  # a new connection each time: the workers take turns accepting
        return http.get(url).status_code


def _fresh_post(url: str, body: str) -> int:
    with httpx.Client() as http:
        return http.post(url, content=body, headers={"content-type": "application/x-www-form-urlencoded"}).status_code


def test_two_workers_metrics_log_and_graceful_shutdown(tmp_path: Path) -> None:
    cli(tmp_path, "realm", "create", "root")
    client = cli_json(tmp_path, "client", "create", "root", "ops-client", "--scope", "")
    cc = urlencode({"grant_type": "client_credentials", "client_id": "ops-client",
                    "client_secret": client["client_secret"]})
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    with log.open("ab") as err:
        proc = subprocess.Popen([sys.executable, "-m", "credo.cli.main", "serve", "--port", str(port),
                                 "--workers", "2", "--graceful-timeout", "20"],
                                env=credo_env(tmp_path), cwd=tmp_path, stdout=err, stderr=err,
                                start_new_session=True)  # its workers too can be stopped if the test fails
    try:
        _wait_ready(proc, base, timeout=120)  # two workers start on a possibly busy machine
        started = next(line for line in _lines(log) if line.get("event") == "server_started")
        assert started["listen"] == base and started["public_url"] == base and started["workers"] == 2
        assert started["store"].startswith("sqlite:///") and started["store"].endswith("credo.db")
        metrics_dir = Path(started["metrics_dir"])
        assert metrics_dir.is_dir()

        # Requests on fresh connections, in parallel batches, until both workers answered some (the
        # readiness probe above was the first request).
        gets, posts = 1, 0
        with ThreadPoolExecutor(8) as pool:
            for _ in range(30):
                statuses = list(pool.map(_fresh_get, [base + DISCOVERY] * 8))
                tokens = list(pool.map(lambda _: _fresh_post(base + TOKEN, cc), range(4)))
                assert set(statuses) == {200} and set(tokens) == {200}
                gets, posts = gets + 8, posts + 4
                pids = {line["pid"] for line in _lines(log) if line.get("event") == "access"}
                if len(pids) == 2:
                    break
        assert len(pids) == 2, "one worker answered every request"

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            access = [line for line in _lines(log) if line.get("event") == "access"]
            if len(access) >= gets + posts:
                break
            time.sleep(0.1)
        assert len(access) == gets + posts
        assert {line["pid"] for line in access} == pids
        assert all(client["client_secret"] not in json.dumps(line) for line in access)

        # One worker answers for both; each adds its counts within a second (SYNC_DELAY).
        deadline = time.monotonic() + 10
        while True:
            text = httpx.get(base + "/metrics").text
            counted = (_metric(text, "credo_http_requests_total", endpoint=".well-known/openid-configuration",
                               status="200", outcome="ok"),
                       _metric(text, "credo_tokens_issued_total", grant="client_credentials"),
                       _metric(text, "credo_http_request_duration_seconds_count", endpoint="access_token"))
            if counted == (gets, posts, posts) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert counted == (gets, posts, posts)
        assert httpx.get(base + "/health/ready").json()["status"] == "ok"

        # A request in flight when SIGTERM arrives: its headers and half its body are sent, the rest after.
        body = cc.encode()
        with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
            sock.sendall(b"POST " + TOKEN.encode() + b" HTTP/1.1\r\nhost: 127.0.0.1\r\n"
                         b"content-type: application/x-www-form-urlencoded\r\n"
                         b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body[:10])
            time.sleep(0.5)  # the worker parsed the headers and waits for the body
            proc.send_signal(signal.SIGTERM)
            time.sleep(1.0)  # the workers were told to stop and stopped listening
            sock.sendall(body[10:])
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
        assert b'"access_token"' in answer
        assert proc.wait(30) == 0
        stopped = [line for line in _lines(log) if line.get("event") == "server_stopped"]
        assert stopped and stopped[0]["listen"] == base
        assert not metrics_dir.exists()  # the start's metrics directory is removed at shutdown
        # Every token issued is counted for the overview, the one issued after SIGTERM too: each worker
        # stored its tally when it stopped (the schedule stores it only every 10 s).
        with sqlite3.connect(started["store"].removeprefix("sqlite:///")) as db:
            issued = db.execute("SELECT grant_type, SUM(issued) FROM token_usage WHERE realm = 'root' "
                                "GROUP BY grant_type").fetchall()
        assert issued == [("client_credentials", posts + 1)], log.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # the supervisor and its workers
            proc.wait(10)


def test_one_process_stopped_by_sigterm_says_so_and_exits_cleanly(tmp_path: Path) -> None:
    """The default, one process: uvicorn stops gracefully on SIGTERM and then raises the signal again; the
    server still writes its shutdown line and exits with status 0, as with several workers."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    with log.open("ab") as err:
        proc = subprocess.Popen([sys.executable, "-m", "credo.cli.main", "serve", "--port", str(port)],
                                env=credo_env(tmp_path), cwd=tmp_path, stdout=err, stderr=err, start_new_session=True)
    try:
        _wait_ready(proc, base, timeout=60)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, log.read_text()[-2000:]
        stopped = [line for line in _lines(log) if line.get("event") == "server_stopped"]
        assert stopped and stopped[0]["listen"] == base and stopped[0]["pid"] == proc.pid
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
