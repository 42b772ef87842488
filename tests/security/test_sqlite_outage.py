"""The SQLite database file becoming unusable under a running server (damaged in place, as by a failed
disk write or a botched restore): every endpoint answers 503 `temporarily_unavailable` with Retry-After,
never a 500, and the server recovers by itself once the file is repaired."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from credo.management.demo import ensure_demo
from tests.support import in_process_server, make_storage

HEADER = 100  # bytes of the SQLite file header


def _damage(path: Path) -> bytes:
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    with path.open("r+b") as f:
        original = f.read(HEADER)
        f.seek(0)
        f.write(b"\0" * HEADER)
    return original


def _repair(path: Path, original: bytes) -> None:
    with path.open("r+b") as f:
        f.write(original)


def test_damaged_sqlite_file_is_503_and_recovers(tmp_path: Path) -> None:
    with make_storage("sqlite", tmp_path) as storage, in_process_server(storage, tmp_path) as srv, srv.client() as http:
        secret = {c.client_id: c.client_secret for c in ensure_demo(srv.services)}["demo-client"]
        base = srv.realm_url("alpha")
        form = {"grant_type": "client_credentials", "client_id": "demo-client", "client_secret": secret}
        token = http.post(f"{base}/access_token", data=form).json()["access_token"]
        path = tmp_path / "credo.db"
        original = _damage(path)
        try:
            srv.services.storage.cache.clear()  # no cached realm or client hides the damage
            calls = [("POST", "/access_token", form),
                     ("POST", "/introspect", {"token": token, **form}),
                     ("GET", "/tokeninfo?access_token=" + token, None),
                     ("POST", "/token/revoke", {"token": token, **form})]
            for method, url, data in calls:
                r = http.request(method, base + url, data=data)
                assert r.status_code == 503, (url, r.status_code, r.text)
                assert r.json()["error"] == "temporarily_unavailable"
                assert r.headers["retry-after"].isdigit()
                assert r.headers["cache-control"] == "no-store"
        finally:
            _repair(path, original)
        deadline = time.monotonic() + 15
        while True:
            r = http.post(f"{base}/access_token", data=form)
            if r.status_code == 200 or time.monotonic() > deadline:
                break
            assert r.status_code == 503
            time.sleep(0.2)
        assert r.status_code == 200, r.text
        assert http.post(f"{base}/introspect", data={"token": token, **form}).json()["active"] is True
