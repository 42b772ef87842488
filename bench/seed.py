"""Fast seeding of many clients straight into the database (a SQLite file, or PostgreSQL through
psycopg), in the server's own row format.

Rows are built with the storage layer's `_client_values` (so the format cannot drift) and written with
`executemany` in large transactions. Secrets are hashed with the server's hasher, which is keyed by
the master key: the benchmark runs with a fixed CREDO_MASTER_KEY. About 20 s for a million clients.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


def _connect(db: Path | str) -> Any:
    """A DB-API connection in autocommit mode, and its placeholder: a SQLite file, or a PostgreSQL URL."""
    if isinstance(db, str) and db.startswith("postgresql"):
        import psycopg

        return psycopg.connect(db.replace("postgresql+psycopg://", "postgresql://"), autocommit=True), "%s"
    return sqlite3.connect(db, isolation_level=None), "?"


def seeded_count(db: Path | str, realm: str) -> int:
    conn, mark = _connect(db)
    try:
        row = conn.execute(f"SELECT count(*) FROM clients WHERE realm = {mark} AND client_id LIKE {mark}",
                           (realm, "seed-%")).fetchone()
    finally:
        conn.close()
    return int(row[0])


def seed_clients(db: Path | str, realm: str, total: int, hasher: SecretHasher) -> tuple[int, float]:
    """Make sure `total` seeded clients exist in the realm; returns (added, seconds)."""
    start = seeded_count(db, realm)
    if start >= total:
        return 0, 0.0
    began = time.monotonic()
    conn, mark = _connect(db)
    sqlite = mark == "?"
    try:
        if sqlite:
            conn.execute("PRAGMA synchronous=OFF")
        columns = list(_client_values(Client(realm=realm, client_id="x")))
        sql = (f"INSERT INTO clients ({', '.join(columns)}) "
               f"VALUES ({', '.join([mark] * len(columns))})")
        now = int(time.time())
        for lo in range(start, total, BATCH):
            hi = min(lo + BATCH, total)
            conn.execute("BEGIN IMMEDIATE" if sqlite else "BEGIN")
            conn.cursor().executemany(sql, [[row[c] for c in columns] for row in _rows(realm, lo, hi, hasher, now)])
            conn.execute("COMMIT")
        conn.execute("UPDATE change_counter SET n = n + 1 WHERE id = 1")
        if sqlite:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return total - start, time.monotonic() - began
