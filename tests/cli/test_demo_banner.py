"""`credo serve --demo` prints what a new user needs: where it listens, the full console URL, both demo
realms and credentials to paste (the end user as a username and password, not as a client); every printed
credential works, and a restart prints the same ones (kept owner-only in the data directory; the server
stores only their hashes). A saved credential that no longer works is replaced, and the start-up says so."""

from __future__ import annotations

import queue
import re
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.procs import credo_env
from tests.support import free_port


@contextmanager
def _serving(data_dir: Path, port: int) -> Iterator[list[str]]:
    """`credo serve --demo` in `data_dir`; yields its start-up output, once the server answers."""
    log = (data_dir / "stderr.log").open("a")
    proc = subprocess.Popen([sys.executable, "-m", "credo.cli.main", "serve", "--demo", "--port", str(port)],
                            cwd=data_dir, env=credo_env(data_dir), stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        lines = _banner(proc)
        _wait(f"http://127.0.0.1:{port}/am/oauth2/realms/root/realms/alpha/.well-known/openid-configuration")
        yield lines
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        log.close()


def _banner(proc: subprocess.Popen[str]) -> list[str]:
    """The output up to the "Listening on" line (read on a thread, so a start-up that never prints it fails
    the test within a minute instead of hanging it)."""
    assert proc.stdout is not None
    stdout, received = proc.stdout, queue.Queue[str]()
    threading.Thread(target=lambda: [received.put(line) for line in stdout], daemon=True).start()
    lines: list[str] = []
    deadline = time.monotonic() + 60
    while not lines or not lines[-1].startswith("Listening on"):
        try:
            lines.append(received.get(timeout=max(0.0, deadline - time.monotonic())).rstrip())
        except queue.Empty:
            raise AssertionError("no 'Listening on' line: " + "\n".join(lines)) from None
    return lines


def _wait(url: str) -> None:
    for _ in range(100):
        try:
            httpx.get(url, timeout=5)
            return
        except httpx.TransportError:
            time.sleep(0.1)


def _credentials(lines: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """({username: password}, {client_id: client_secret}) as printed."""
    users = dict(m.groups() for ln in lines if (m := re.match(r"\s+User:\s+username=(\S+)\s+password=(\S+)", ln)))
    clients = dict(m.groups() for ln in lines
                   if (m := re.match(r"\s+Client:\s+client_id=(\S+)\s+client_secret=(\S+)", ln)))
    return users, clients


def _all_work(port: int, users: dict[str, str], clients: dict[str, str]) -> None:
    base = f"http://127.0.0.1:{port}/am/oauth2/realms/root/realms/alpha"
    with httpx.Client(timeout=10) as http:
        r = http.post(f"{base}/access_token", data={
            "grant_type": "password", "username": "barbara.jensen", "password": users["barbara.jensen"],
            "scope": "openid", "client_id": "digital-assistant-web-app",
            "client_secret": clients["digital-assistant-web-app"]})
        assert r.status_code == 200, r.text
        for client_id, secret in clients.items():
            r = http.post(f"{base}/introspect", data={"token": "not-a-token", "client_id": client_id,
                                                      "client_secret": secret})
            assert r.status_code == 200 and r.json() == {"active": False}, (client_id, r.text)


def test_demo_banner_credentials_work_and_stay_the_same_after_a_restart(tmp_path: Path) -> None:
    port = free_port()
    with _serving(tmp_path, port) as lines:
        users, clients = _credentials(lines)
        assert list(users) == ["barbara.jensen"] and "barbara.jensen" not in clients
        assert {"demo-client", "bench-client", "digital-assistant-web-app", "bot-traffic-analyzer"} <= set(clients)
        assert f"Listening on     http://127.0.0.1:{port}   (Ctrl+C to stop)" == lines[-1]
        console = next(ln.split()[-1] for ln in lines if ln.startswith("Console:"))
        realms = [ln.split()[-1] for ln in lines if re.match(r"\s+Realm (alpha|bravo):", ln)]
        assert console == f"http://127.0.0.1:{port}/admin/"
        assert realms == [f"http://127.0.0.1:{port}/am/oauth2/realms/root/realms/{r}" for r in ("alpha", "bravo")]
        assert httpx.get(console).status_code == 303  # the console, asking to sign in
        for realm in realms:
            assert httpx.get(f"{realm}/.well-known/openid-configuration").json()["issuer"] == realm
        _all_work(port, users, clients)
        assert not any("NOTE" in ln for ln in lines)
    saved = tmp_path / "demo-credentials.json"  # in the data directory
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    database = b"".join(f.read_bytes() for f in tmp_path.glob("credo.db*"))
    assert not any(secret.encode() in database for secret in (*users.values(), *clients.values()))  # hashes only

    with _serving(tmp_path, port) as again:  # a restart prints the same, still working, credentials
        assert _credentials(again) == (users, clients)
        assert not any("NOTE" in ln for ln in again)
        _all_work(port, users, clients)

    saved.unlink()  # the saved values are gone: new ones, said loudly
    with _serving(tmp_path, port) as renewed:
        new_users, new_clients = _credentials(renewed)
        assert new_clients["demo-client"] != clients["demo-client"] and new_users != users
        assert any(ln.strip().startswith("NOTE: new secrets for demo-client") for ln in renewed)
        _all_work(port, new_users, new_clients)
    assert "note: no database" not in (tmp_path / "stderr.log").read_text()  # the first start is not a mistake


def test_serve_refuses_an_address_it_cannot_listen_on(tmp_path: Path) -> None:
    with socket_taken() as port:
        out = subprocess.run([sys.executable, "-m", "credo.cli.main", "serve", "--demo", "--port", str(port)],
                             cwd=tmp_path, env=credo_env(tmp_path), capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and f"error: cannot listen on 127.0.0.1:{port}" in out.stderr, out.stderr
    assert "Credo demo is ready" not in out.stdout and not (tmp_path / "demo-credentials.json").exists()


@contextmanager
def socket_taken() -> Iterator[int]:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        yield int(sock.getsockname()[1])
