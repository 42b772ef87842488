"""Fast seeding of many clients straight into a SQLite database, in the server's own row format.

Rows are built with the storage layer's `_client_values` (so the format cannot drift) and written with
`executemany` in large transactions. Secrets are hashed with the server's hasher, which is keyed by
the master key: the benchmark runs with a fixed CREDO_MASTER_KEY. About 20 s for a million clients.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

from credo.domain.models import Client
from credo.keys.secrets import SecretHasher
from credo.storage.sql.store import _client_values

STATELESS = {"providerOverridesEnabled": ["true"], "statelessTokensEnabled": ["true"]}
BATCH = 50_000


def seed_client_id(i: int) -> str:
    return f"seed-{i:07d}"


def seed_secret(i: int) -> str:
    return f"bench-seed-secret-{i:07d}-0123456789abcdef"


def _rows(realm: str, start: int, stop: int, hasher: SecretHasher, now: int) -> Iterator[dict[str, object]]:
    for i in range(start, stop):
        client = Client(realm=realm, client_id=seed_client_id(i), secret_hash=hasher.hash_generated(seed_secret(i)),
                        name=f"Seeded client {i}", grant_types=("client_credentials",),
                        scopes=("data-read", "data-write"), auth_method="client_secret_post",
                        attributes=STATELESS, created_at=now - 60, updated_at=now - 60)
        yield _client_values(client)


def seeded_count(db: Path, realm: str) -> int:
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT count(*) FROM clients WHERE realm = ? AND client_id LIKE 'seed-%'",
                           (realm,)).fetchone()
    return int(row[0])


def seed_clients(db: Path, realm: str, total: int, hasher: SecretHasher) -> tuple[int, float]:
    """Make sure `total` seeded clients exist in the realm; returns (added, seconds)."""
    start = seeded_count(db, realm)
    if start >= total:
        return 0, 0.0
    began = time.monotonic()
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous=OFF")
        columns = list(_client_values(Client(realm=realm, client_id="x")))
        sql = (f"INSERT INTO clients ({', '.join(columns)}) "
               f"VALUES ({', '.join('?' * len(columns))})")
        now = int(time.time())
        for lo in range(start, total, BATCH):
            hi = min(lo + BATCH, total)
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(sql, ([row[c] for c in columns] for row in _rows(realm, lo, hi, hasher, now)))
            conn.execute("COMMIT")
        conn.execute("UPDATE change_counter SET n = n + 1 WHERE id = 1")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return total - start, time.monotonic() - began
