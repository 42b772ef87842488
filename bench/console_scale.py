"""The console's lists at realm scale: one realm with 100,000 users and 1,000,000 dynamic clients.

    python bench/console_scale.py [--users 100000] [--clients 1000000] [--database-url postgresql://...]

Seeds the realm with bulk inserts, then requests each console list page through the whole ASGI app in
process (signed in as an administrator) and prints the median time of each over a few runs: first page,
a later page (keyset), the last page in reverse order, a search, the overview. The browser test
(tests/console/test_console_scale.py) drives the same pages in Chromium on a smaller realm.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert
from starlette.testclient import TestClient

from credo.admin.session import COOKIE, signed_session
from credo.app import build_app
from credo.domain.models import Client
from credo.management.admins import create_admin, login
from credo.management.realms import ensure_realm
from credo.settings import Settings
from credo.storage.sql import tables as t
from credo.storage.sql.clients import _client_values

REALM = "big"
BATCH = 50_000


def seed(services: object, users: int, clients: int) -> None:
    ensure_realm(services, REALM)  # type: ignore[arg-type]
    engine = services.storage.inner.engine  # type: ignore[attr-defined]
    template = _client_values(Client(realm=REALM, client_id="x", secret_hash=None, name="x", dynamic=True,
                                      created_at=1_700_000_000, updated_at=1_700_000_000,
                                      redirect_uris=("https://app.example/cb",)))
    with engine.begin() as conn:
        for start in range(0, users, BATCH):
            conn.execute(insert(t.users), [
                {"realm": REALM, "id": f"u-{i:07d}", "username": f"user{i:07d}", "password_hash": "x", "active": True,
                 "created_at": 1_700_000_000, "name": f"Person {i}", "email": f"user{i:07d}@example.com"}
                for i in range(start, min(start + BATCH, users))])
        for start in range(0, clients, BATCH):
            conn.execute(insert(t.clients), [
                {**template, "client_id": f"dyn-{i:07d}", "data": template["data"].replace('"name":"x"', f'"name":"Robot {i}"')}
                for i in range(start, min(start + BATCH, clients))])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="credo-console-scale-"))
    settings = Settings(data_dir=data, database_url=args.database_url or f"sqlite:///{data / 'credo.db'}",
                        _env_file=None)  # type: ignore[call-arg]
    app = build_app(settings, base_url="http://credo.bench")
    services = app.state.services
    started = time.perf_counter()
    seed(services, args.users, args.clients)
    print(f"seeded {args.users:,} users and {args.clients:,} dynamic clients in {time.perf_counter() - started:.1f} s")
    create_admin(services, "bench-admin", "bench-admin-password-1")
    token = login(services, "bench-admin", "bench-admin-password-1", source="127.0.0.1", channel="console")
    last_user, last_client = f"user{args.users - 60:07d}", f"dyn-{args.clients - 60:07d}"
    pages = {
        "users: first page": f"/admin/r/{REALM}/users",
        "users: a later page": f"/admin/r/{REALM}/users?after={last_user}",
        "users: Z to A": f"/admin/r/{REALM}/users?order=desc",
        "users: search (rare term)": f"/admin/r/{REALM}/users?q=person%20{args.users - 1}",
        "users: search (common term)": f"/admin/r/{REALM}/users?q=example",
        "dynamic: first page": f"/admin/r/{REALM}/dynamic",
        "dynamic: a later page": f"/admin/r/{REALM}/dynamic?after={last_client}",
        "dynamic: search (rare term)": f"/admin/r/{REALM}/dynamic?q=robot%20{args.clients - 1}",
        "dynamic: search (common term)": f"/admin/r/{REALM}/dynamic?q=robot",
        "dynamic: one client": f"/admin/r/{REALM}/dynamic/{last_client}",
        "overview": f"/admin/r/{REALM}/overview",
    }
    with TestClient(app, base_url="http://credo.bench") as client:
        client.cookies.set(COOKIE, signed_session(services, token))
        for name, path in pages.items():
            times = []
            for _ in range(args.runs):
                t0 = time.perf_counter()
                r = client.get(path)
                times.append((time.perf_counter() - t0) * 1000)
                if r.status_code != 200:
                    raise SystemExit(f"{path}: {r.status_code}")
            print(f"{name:32} {statistics.median(times):8.1f} ms")


if __name__ == "__main__":
    main()
