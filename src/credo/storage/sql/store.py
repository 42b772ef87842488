"""SQL implementation of the storage ports: SqlStorage puts the repositories of this package together.

The hot statements (realm, client and token reads, token and audit inserts, registrations, one-time ids,
the change counter) run only on the database driver (fast.py for SQLite, fast_pg.py for PostgreSQL),
with texts compiled from tables.py (statements.py); the administration statements run through SQLAlchemy
Core, which also runs the migrations.
"""

from __future__ import annotations

from sqlalchemy import Engine

from credo.storage.protocols import AwaitedWrites
from credo.storage.sql.admins import SqlAdmins
from credo.storage.sql.audit import SqlAudit
from credo.storage.sql.awaited import SqlAwaitedWrites
from credo.storage.sql.clients import SqlClients, _client_values
from credo.storage.sql.consents import SqlConsents
from credo.storage.sql.fast import SqliteFastPath
from credo.storage.sql.fast_pg import PgFastPath
from credo.storage.sql.policies import SqlPolicies
from credo.storage.sql.realms import SqlRealms
from credo.storage.sql.repo import Driver, _Repo, _unavailable
from credo.storage.sql.scripts import SqlScripts
from credo.storage.sql.signing_keys import SqlKeys
from credo.storage.sql.throttle_store import SqlEphemeral
from credo.storage.sql.tokens import SqlOneTime, SqlTokens
from credo.storage.sql.usage import SqlUsage
from credo.storage.sql.users import SqlGroups, SqlUsers

__all__ = ["SqlStorage", "_Repo", "_client_values", "_unavailable"]


def _driver(engine: Engine) -> Driver:
    if SqliteFastPath.supports(engine):
        return SqliteFastPath(engine)
    if PgFastPath.supports(engine):
        return PgFastPath(engine)
    raise ValueError(f"unsupported database {engine.url.render_as_string()}: a SQLite file, or PostgreSQL "
                     "with psycopg (postgresql:// or postgresql+psycopg://)")


class SqlStorage:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.fast: Driver = _driver(engine)
        self.counter_round_trip = engine.dialect.name != "sqlite"
        self.awaited_writes: AwaitedWrites | None = (SqlAwaitedWrites(self.fast) if isinstance(self.fast, PgFastPath)
                                                     else None)
        self.counters = _unavailable(self.fast.counters)
        self.counters_awaited = self.fast.counters_awaited
        self.realms = SqlRealms(self)
        self.clients = SqlClients(self)
        self.users = SqlUsers(self)
        self.groups = SqlGroups(self)
        self.policies = SqlPolicies(self)
        self.scripts = SqlScripts(self)
        self.consents = SqlConsents(self)
        self.tokens = SqlTokens(self)
        self.one_time = SqlOneTime(self)
        self.keys = SqlKeys(self)
        self.audit = SqlAudit(self)
        self.admins = SqlAdmins(self)
        self.usage = SqlUsage(self)
        self.ephemeral = SqlEphemeral(self)

    def change_counter(self) -> int:
        return self.counters()[0]

    def close(self) -> None:
        self.fast.close()
        self.engine.dispose()
