"""A database made before browser sign-in (migration 0003) upgrades in place: its users, groups and clients
stay and read back with empty profile attributes and the new client fields' defaults, and consents,
profile attributes and resource identifiers work at once. The migration also goes back down (dropping
consents and profile attributes) and up again, finding the clients' resources again."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from sqlalchemy import Connection, text

from credo.domain.models import Client, Consent, Group, User
from credo.storage.sql.migrate import alembic_config, upgrade
from tests.conftest import SQL_BACKENDS
from tests.support import storage_upgraded_from

API = "https://api.example.com/mcp"


def _old_rows(conn: Connection) -> None:
    """Rows as a 0003 installation wrote them (no name or email column; client data without the new keys)."""
    conn.execute(text("INSERT INTO users (realm, id, username, password_hash, active, created_at) "
                      "VALUES ('alpha', 'u1', 'ann', 'argon2$x', :t, 5), ('alpha', 'u2', 'bob', 'argon2$y', :f, 6)"),
                 {"t": True, "f": False})
    conn.execute(text("INSERT INTO groups (realm, name) VALUES ('alpha', 'ops')"))
    conn.execute(text("INSERT INTO group_members (realm, group_name, user_id) VALUES ('alpha', 'ops', 'u1')"))
    data = {"name": "Old app", "grant_types": ["client_credentials"], "scopes": ["data-read"],
            "auth_method": "client_secret_basic", "redirect_uris": [], "response_types": [], "attributes": {},
            "metadata": {}, "app_type": None, "owners": []}
    conn.execute(text("INSERT INTO clients (realm, client_id, kind, dynamic, enabled, created_at, updated_at, "
                      "secret_hash, data) VALUES ('alpha', 'old-app', 'application', :f, :t, 1, 2, 'h1$x', :d)"),
                 {"t": True, "f": False, "d": orjson.dumps(data).decode()})


@pytest.mark.parametrize("kind", SQL_BACKENDS)
def test_a_0003_database_upgrades_keeping_its_users_and_clients(kind: str, tmp_path: Path) -> None:
    with storage_upgraded_from(kind, tmp_path, "0003", _old_rows) as s:
        assert s.users.all("alpha") == [User("alpha", "u1", "ann", "argon2$x", created_at=5),
                                        User("alpha", "u2", "bob", "argon2$y", active=False, created_at=6)]
        assert s.users.by_username("alpha", "ann") == User("alpha", "u1", "ann", "argon2$x", created_at=5)
        assert s.groups.get("alpha", "ops") == Group("alpha", "ops", ("u1",))
        old = s.clients.get("alpha", "old-app")
        assert old is not None and (old.name, old.scopes, old.secret_hash) == ("Old app", ("data-read",), "h1$x")
        assert (old.application_type, old.post_logout_redirect_uris, old.skip_consent, old.resources) == \
            ("web", (), False, ())

        s.users.put(User("alpha", "u1", "ann", "argon2$x", created_at=5, name="Ann", email="ann@example.com"))
        assert (s.users.get("alpha", "u1").name, s.users.get("alpha", "u1").email) == \
            ("Ann", "ann@example.com")  # type: ignore[union-attr]
        assert s.clients.update(Client(**{**_fields(old), "resources": (API,)})) is True
        assert s.clients.by_resource("alpha", API).client_id == "old-app"  # type: ignore[union-attr]
        consent = Consent("alpha", "u1", "old-app", ("openid",), (API,), "g1")
        s.consents.put(consent)
        assert s.consents.for_user("alpha", "u1") == [consent]

        from alembic import command

        command.downgrade(alembic_config(s.engine), "0003")  # and back: the down step works too
        upgrade(s.engine)
        assert s.users.get("alpha", "u1") == User("alpha", "u1", "ann", "argon2$x", created_at=5)
        assert s.consents.for_user("alpha", "u1") == []
        assert s.clients.by_resource("alpha", API).client_id == "old-app"  # type: ignore[union-attr]


def _fields(client: Client) -> dict[str, object]:
    return {name: getattr(client, name) for name in Client.__dataclass_fields__}
