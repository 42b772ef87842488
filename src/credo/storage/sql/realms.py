"""SQL realms. `get` is a hot statement (driver only); the rest is administration (SQLAlchemy)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select, update

from credo.domain.models import Realm
from credo.domain.settings import ProviderSettings
from credo.storage.sql import tables as t
from credo.storage.sql.repo import _Repo, _unavailable
from credo.storage.sql.statements import REALM_GET, row_type

_RealmRow = row_type("RealmRow", t.realms)


class SqlRealms(_Repo):
    @_unavailable
    def get(self, name: str) -> Realm | None:
        raw = self._fast.one(REALM_GET, (name,))
        if raw is None:
            return None
        row = _RealmRow._make(raw)
        return _realm_parsed(row.name, row.settings, row.created_at)

    @_unavailable
    def all(self) -> list[Realm]:
        with self._read() as conn:
            return [_realm(r) for r in conn.execute(select(t.realms).order_by(t.realms.c.name))]

    @_unavailable
    def put(self, realm: Realm) -> None:
        values = {"settings": realm.settings.model_dump_json(), "created_at": realm.created_at}
        with self._write(bump=True) as conn:
            if conn.execute(update(t.realms).where(t.realms.c.name == realm.name).values(**values)).rowcount == 0:
                conn.execute(insert(t.realms).values(name=realm.name, **values))

    @_unavailable
    def swap(self, realm: Realm, *, expected: ProviderSettings) -> bool:
        """Compare-and-swap on the stored settings text: the UPDATE names the text that was compared, so
        a change committed in between (by any process) makes it match no row."""
        with self._write(bump=True) as conn:
            stored = conn.execute(select(t.realms.c.settings).where(t.realms.c.name == realm.name)).scalar()
            if stored is None or ProviderSettings.model_validate_json(stored) != expected:
                return False
            q = update(t.realms).where(t.realms.c.name == realm.name, t.realms.c.settings == stored)
            return bool(conn.execute(q.values(settings=realm.settings.model_dump_json())).rowcount)

    @_unavailable
    def delete(self, name: str) -> bool:
        """The realm and everything scoped to it, in one transaction (see RealmRepository.delete)."""
        self._s.usage.discard(name)
        with self._write(bump=True) as conn:
            for table in REALM_SCOPED:
                conn.execute(delete(table).where(table.c.realm == name))
            return bool(conn.execute(delete(t.realms).where(t.realms.c.name == name)).rowcount)


# Every table whose rows belong to one realm; the audit trail (audit_events) is history and stays.
REALM_SCOPED = (t.group_members, t.groups, t.policies, t.client_resources, t.clients, t.consents, t.users, t.scripts,
                t.tokens, t.one_time_ids, t.signing_keys, t.token_usage)


def _realm(row: Any) -> Realm:
    return Realm(name=row.name, settings=ProviderSettings.model_validate_json(row.settings), created_at=row.created_at)


_parsed_realms: dict[tuple[str, str, int], Realm] = {}


def _realm_parsed(name: str, settings: str, created_at: int) -> Realm:
    """The Realm for a row, reusing the parsed object while the stored row is unchanged (Realm and its
    settings are immutable): reloading a realm after a cache flush then costs one indexed read."""
    key = (name, settings, created_at)
    realm = _parsed_realms.get(key)
    if realm is None:
        if len(_parsed_realms) >= 1000:
            _parsed_realms.clear()
        realm = _parsed_realms[key] = Realm(name=name, settings=ProviderSettings.model_validate_json(settings),
                                            created_at=created_at)
    return realm
