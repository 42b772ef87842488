"""The test suite's PostgreSQL databases are reused once emptied: a test gets a database holding exactly
what the migrations left in it, whatever the tests before it wrote, and with its sequences at their start."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.conftest import PG_SKIP
from tests.factories import demo_secrets
from tests.support import make_storage, migrated_postgres_database, services_for


def _contents(url: str) -> dict[str, object]:
    name = make_url(url).database
    with psycopg.connect(f"host=127.0.0.1 port=5432 user=postgres dbname={name}") as conn:
        tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        found: dict[str, object] = {t: sorted(map(repr, conn.execute(f'SELECT * FROM "{t}"').fetchall())) for t in tables}
        found["sequences"] = conn.execute("SELECT sequencename, last_value FROM pg_sequences "
                                          "WHERE schemaname = 'public' ORDER BY 1").fetchall()
    return found


@pytest.mark.postgres
@pytest.mark.skipif(PG_SKIP is not None, reason=PG_SKIP or "")
def test_a_reused_database_is_as_the_migrations_left_it(tmp_path: Path) -> None:
    with migrated_postgres_database() as url:
        fresh = _contents(url)
        used = url
    with make_storage("postgres", tmp_path) as storage:  # the same database, now used
        assert storage.engine.url.database == make_url(used).database  # type: ignore[attr-defined]
        services = services_for(storage, tmp_path)
        demo_secrets(services)
        storage.ephemeral.add("k", 1, 2)  # a row with a sequence-made id
        assert _contents(used) != fresh
    with migrated_postgres_database() as again:
        assert again == used
        assert _contents(again) == fresh
