"""`credo serve --demo` prints credentials a new user can paste: the end user is printed as a
username and password (not as a client), and every printed credential works against the server."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.procs import credo_env
from tests.support import free_port


def _banner(proc: subprocess.Popen[str]) -> list[str]:
    lines: list[str] = []
    deadline = time.monotonic() + 60
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip())
        if line.strip().startswith("curl "):
            return lines
    raise AssertionError("no banner: " + "\n".join(lines))


def test_demo_banner_credentials_work(tmp_path: Path) -> None:
    port = free_port()
    env = credo_env(tmp_path)
    log = (tmp_path / "stderr.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "credo.cli.main", "serve", "--demo", "--port", str(port)],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        lines = _banner(proc)
        users = [m.groups() for ln in lines if (m := re.match(r"\s+User:\s+username=(\S+)\s+password=(\S+)", ln))]
        clients = dict(m.groups() for ln in lines
                       if (m := re.match(r"\s+Client:\s+client_id=(\S+)\s+client_secret=(\S+)", ln)))
        assert users and users[0][0] == "barbara.jensen"
        assert "barbara.jensen" not in clients
        base = f"http://127.0.0.1:{port}/am/oauth2/realms/root/realms/alpha"
        with httpx.Client(timeout=10) as http:
            for _ in range(100):
                try:
                    http.get(f"{base}/.well-known/openid-configuration")
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            user, password = users[0]
            r = http.post(f"{base}/access_token", data={
                "grant_type": "password", "username": user, "password": password, "scope": "openid",
                "client_id": "digital-assistant-web-app", "client_secret": clients["digital-assistant-web-app"]})
            assert r.status_code == 200, r.text
            r = http.post(f"{base}/access_token", data={
                "grant_type": "client_credentials", "client_id": "demo-client",
                "client_secret": clients["demo-client"], "scope": "data-read"})
            assert r.status_code == 200, r.text
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        log.close()
    assert "note: no database" not in (tmp_path / "stderr.log").read_text()  # the first start is not a mistake
