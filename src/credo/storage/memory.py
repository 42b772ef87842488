"""In-memory storage: for unit tests and throwaway servers. Thread-safe, nothing persisted."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import replace
from itertools import count
from typing import Any

from cachetools import LRUCache

from credo.domain.models import (
    AdminUser,
    ApplicationPolicy,
    AuditEvent,
    Client,
    Consent,
    Group,
    Realm,
    Script,
    SealedDataKey,
    SigningKey,
    TokenRecord,
    User,
)
from credo.domain.settings import ProviderSettings
from credo.storage.protocols import Conflict, LimitReached, NewClient, minute_of


class _Base:
    def __init__(self, store: MemoryStorage) -> None:
        self._s = store
        self._lock = store.lock


class _Realms(_Base):
    def __init__(self, store: MemoryStorage) -> None:
        super().__init__(store)
        self._rows: dict[str, Realm] = {}

    def get(self, name: str) -> Realm | None:
        return self._rows.get(name)

    def all(self) -> list[Realm]:
        return sorted(self._rows.values(), key=lambda r: r.name)

    def put(self, realm: Realm) -> None:
        with self._lock:
            self._rows[realm.name] = realm
            self._s.bump()

    def swap(self, realm: Realm, *, expected: ProviderSettings) -> bool:
        with self._lock:
            current = self._rows.get(realm.name)
            if current is None or current.settings != expected:
                return False
            self._rows[realm.name] = replace(current, settings=realm.settings)
            self._s.bump()
            return True

    def delete(self, name: str) -> bool:
        """The realm and everything scoped to it (see RealmRepository.delete)."""
        with self._lock:
            self._s.bump()
            self._s.forget_realm(name)
            return self._rows.pop(name, None) is not None


class _Clients(_Base):
    def __init__(self, store: MemoryStorage) -> None:
        super().__init__(store)
        self._rows: dict[tuple[str, str], Client] = {}
        self._used: dict[tuple[str, str], int] = {}

    def get(self, realm: str, client_id: str) -> Client | None:
        return self._rows.get((realm, client_id))

    def all(self, realm: str, *, kind: str | None = None, dynamic: bool | None = None,
             limit: int = 1000, offset: int = 0) -> list[Client]:
        rows = [c for (r, _), c in sorted(self._rows.items()) if r == realm
                and (kind is None or c.kind == kind) and (dynamic is None or c.dynamic == dynamic)]
        return rows[offset:offset + limit]

    def count(self, realm: str, *, dynamic: bool | None = None, kind: str | None = None) -> int:
        return sum(1 for (r, _), c in self._rows.items() if r == realm and (dynamic is None or c.dynamic == dynamic)
                   and (kind is None or c.kind == kind))

    def search(self, realm: str, *, kind: str | None = None, dynamic: bool | None = None, text: str | None = None,
               after: str | None = None, limit: int = 50, descending: bool = False) -> list[Client]:
        rows = [c for c in self.all(realm, kind=kind, dynamic=dynamic, limit=len(self._rows))
                if _contains(text, c.client_id, repr(c))]
        return _keyset(rows, lambda c: c.client_id, after, limit, descending)

    def create(self, client: Client, *, burn: tuple[str, int] | None = None, audit: AuditEvent | None = None,
               max_dynamic: int | None = None) -> None:
        with self._lock:
            key = (client.realm, client.client_id)
            if key in self._rows:
                raise Conflict(f"client {client.client_id} exists")
            if max_dynamic is not None and self.count(client.realm, dynamic=True) >= max_dynamic:
                raise LimitReached("max_clients reached")
            self._check_resources(client)
            if burn is not None and not self._s.one_time.burn(client.realm, *burn):
                raise Conflict("one-time id already used")
            self._rows[key] = client  # no counter bump, as in the SQL stores: a new client is in no cache
            if audit is not None:
                self._s.audit.add(audit)

    def create_many(self, new: Sequence[NewClient]) -> list[Conflict | None]:
        outcomes: list[Conflict | None] = []
        with self._lock:  # re-entrant: the batch is one step for other threads
            for item in new:
                try:
                    self.create(item.client, burn=item.burn, audit=item.audit, max_dynamic=item.max_dynamic)
                except Conflict as exc:
                    outcomes.append(exc)
                else:
                    outcomes.append(None)
        return outcomes

    def current(self, realm: str, client_id: str) -> Client | None:
        return self._rows.get((realm, client_id))

    def update(self, client: Client, *, expected_registration_token_hash: str | None = None) -> bool:
        with self._lock:
            key = (client.realm, client.client_id)
            old = self._rows.get(key)
            if old is None or old.version != client.version:
                return False
            if expected_registration_token_hash is None:  # the stored token stays (never a used one back)
                client = replace(client, registration_token_hash=old.registration_token_hash,
                                 registration_token_expires_at=old.registration_token_expires_at)
            elif old.registration_token_hash != expected_registration_token_hash:
                return False
            self._check_resources(client)
            self._rows[key] = replace(client, version=old.version + 1)
            self._s.bump()
            return True

    def swap_registration_token(self, client: Client, *, expected_registration_token_hash: str) -> bool:
        with self._lock:
            key = (client.realm, client.client_id)
            old = self._rows.get(key)
            if old is None or old.version != client.version or \
                    old.registration_token_hash != expected_registration_token_hash:
                return False
            self._rows[key] = replace(old, registration_token_hash=client.registration_token_hash,
                                      registration_token_expires_at=client.registration_token_expires_at)
            return True  # no bump: nothing cached reads the token

    def _check_resources(self, client: Client) -> None:
        """Conflict when another client of the realm lists one of `client`'s resource identifiers."""
        for resource in client.resources:
            other = self.by_resource(client.realm, resource)
            if other is not None and other.client_id != client.client_id:
                raise Conflict(f"resource {resource} belongs to client {other.client_id}")

    def by_resource(self, realm: str, resource: str) -> Client | None:
        return next((c for (r, _), c in self._rows.items() if r == realm and resource in c.resources), None)

    def delete(self, realm: str, client_id: str, *, expected_registration_token_hash: str | None = None,
               expected_version: int | None = None) -> bool:
        with self._lock:
            old = self._rows.get((realm, client_id))
            if old is None:
                return False
            if expected_registration_token_hash is not None and \
                    old.registration_token_hash != expected_registration_token_hash:
                return False
            if expected_version is not None and old.version != expected_version:
                return False
            del self._rows[(realm, client_id)]
            self._used.pop((realm, client_id), None)
            self._s.policies.drop_client(realm, client_id)
            self._s.consents.drop(realm, client_id=client_id)
            self._s.bump()
            return True

    def touch(self, realm: str, client_id: str, when: int) -> None:
        with self._lock:
            if (realm, client_id) in self._rows:
                self._used[(realm, client_id)] = when

    def last_used(self, realm: str, client_id: str) -> int | None:
        return self._used.get((realm, client_id))


class _Users(_Base):
    def __init__(self, store: MemoryStorage) -> None:
        super().__init__(store)
        self._rows: dict[tuple[str, str], User] = {}

    def get(self, realm: str, user_id: str) -> User | None:
        return self._rows.get((realm, user_id))

    def by_username(self, realm: str, username: str) -> User | None:
        return next((u for u in self._rows.values() if u.realm == realm and u.username == username), None)

    def all(self, realm: str) -> list[User]:
        return sorted((u for u in self._rows.values() if u.realm == realm), key=lambda u: u.username)

    def search(self, realm: str, *, text: str | None = None, after: str | None = None, limit: int = 50,
               descending: bool = False) -> list[User]:
        rows = [u for u in self.all(realm) if _contains(text, u.username, u.name, u.email)]
        return _keyset(rows, lambda u: u.username, after, limit, descending)

    def count(self, realm: str) -> int:
        return sum(1 for u in self._rows.values() if u.realm == realm)

    def put(self, user: User) -> None:
        with self._lock:
            other = self.by_username(user.realm, user.username)
            if other is not None and other.id != user.id:
                raise Conflict(f"username {user.username} exists")
            self._rows[(user.realm, user.id)] = user
            self._s.bump()

    def delete(self, realm: str, user_id: str) -> bool:
        with self._lock:
            self._s.bump()
            gone = self._rows.pop((realm, user_id), None) is not None
            self._s.consents.drop(realm, user_id=user_id)
            for g in self._s.groups.all(realm):
                if user_id in g.members:
                    self._s.groups.put(replace(g, members=tuple(m for m in g.members if m != user_id)))
            return gone


class _Groups(_Base):
    def __init__(self, store: MemoryStorage) -> None:
        super().__init__(store)
        self._rows: dict[tuple[str, str], Group] = {}

    def get(self, realm: str, name: str) -> Group | None:
        return self._rows.get((realm, name))

    def all(self, realm: str) -> list[Group]:
        return sorted((g for g in self._rows.values() if g.realm == realm), key=lambda g: g.name)

    def groups_of(self, realm: str, user_id: str) -> list[str]:
        return sorted(g.name for g in self._rows.values() if g.realm == realm and user_id in g.members)

    def put(self, group: Group) -> None:
        with self._lock:
            self._rows[(group.realm, group.name)] = replace(group, members=tuple(sorted(set(group.members))))
            self._s.bump()

    def delete(self, realm: str, name: str) -> bool:
        with self._lock:
            self._s.bump()
            return self._rows.pop((realm, name), None) is not None


class _Policies(_Base):
    def __init__(self, store: MemoryStorage) -> None:
        super().__init__(store)
        self._rows: dict[tuple[str, str, str], ApplicationPolicy] = {}

    def get(self, realm: str, agent_id: str, application_id: str) -> ApplicationPolicy | None:
        return self._rows.get((realm, agent_id, application_id))

    def for_agent(self, realm: str, agent_id: str) -> list[ApplicationPolicy]:
        return [p for (r, a, _), p in sorted(self._rows.items()) if r == realm and a == agent_id]

    def put(self, policy: ApplicationPolicy) -> None:
        with self._lock:
            self._rows[(policy.realm, policy.agent_id, policy.application_id)] = policy
            self._s.bump()

    def delete(self, realm: str, agent_id: str, application_id: str) -> bool:
        with self._lock:
            self._s.bump()
            return self._rows.pop((realm, agent_id, application_id), None) is not None

    def drop_client(self, realm: str, client_id: str) -> None:
        """Remove every policy naming the client as agent or application (as the SQL backend does)."""
        with self._lock:
            for key in [k for k in self._rows if k[0] == realm and client_id in (k[1], k[2])]:
                del self._rows[key]


class _Consents(_Base):
    """Not counted as changes: consents are in no cache."""

    def __init__(self, store: MemoryStorage) -> None:
        super().__init__(store)
        self._rows: dict[tuple[str, str, str], Consent] = {}

    def get(self, realm: str, user_id: str, client_id: str) -> Consent | None:
        return self._rows.get((realm, user_id, client_id))

    def for_user(self, realm: str, user_id: str) -> list[Consent]:
        return [c for (r, u, _), c in sorted(self._rows.items()) if r == realm and u == user_id]

    def put(self, consent: Consent) -> None:
        with self._lock:
            self._rows[(consent.realm, consent.user_id, consent.client_id)] = consent

    def delete(self, realm: str, user_id: str, client_id: str) -> bool:
        with self._lock:
            return self._rows.pop((realm, user_id, client_id), None) is not None

    def drop(self, realm: str, *, user_id: str | None = None, client_id: str | None = None) -> None:
        """Remove the consents of a deleted user or client (as the SQL backend does)."""
        with self._lock:
            for key in [k for k in self._rows if k[0] == realm and user_id in (None, k[1])
                        and client_id in (None, k[2])]:
                del self._rows[key]


class _Scripts(_Base):
    def __init__(self, store: MemoryStorage) -> None:
        super().__init__(store)
        self._rows: dict[tuple[str, str], Script] = {}

    def get(self, realm: str, script_id: str) -> Script | None:
        return self._rows.get((realm, script_id))

    def all(self, realm: str) -> list[Script]:
        return sorted((s for s in self._rows.values() if s.realm == realm), key=lambda s: s.name)

    def put(self, script: Script) -> None:
        with self._lock:
            self._rows[(script.realm, script.id)] = script
            self._s.bump()

    def delete(self, realm: str, script_id: str) -> bool:
        with self._lock:
            self._s.bump()
            return self._rows.pop((realm, script_id), None) is not None


class _Tokens(_Base):
    def __init__(self, store: MemoryStorage) -> None:
        super().__init__(store)
        self._rows: dict[str, TokenRecord] = {}

    def add(self, record: TokenRecord) -> None:
        with self._lock:
            if record.token_hash in self._rows:
                raise Conflict("token exists")
            self._rows[record.token_hash] = record

    def add_many(self, records: list[TokenRecord], *, audit: Sequence[AuditEvent] = ()) -> None:
        with self._lock:
            hashes = [r.token_hash for r in records]
            if len(set(hashes)) != len(hashes) or any(h in self._rows for h in hashes):
                raise Conflict("token exists")
            self._rows.update((r.token_hash, r) for r in records)
            if audit:
                self._s.audit.add_many(list(audit))

    def get(self, token_hash: str) -> TokenRecord | None:
        return self._rows.get(token_hash)

    def delete(self, token_hash: str) -> bool:
        with self._lock:
            if self._rows.pop(token_hash, None) is None:
                return False
            self._s.burns += 1  # caches of token records follow the burn counter
            return True

    def of_realm(self, realm: str, now: int, *, sub: str | None = None, client_id: str | None = None,
                 kinds: tuple[str, ...] | None = None, limit: int | None = None) -> list[TokenRecord]:
        with self._lock:
            rows = [r for r in self._rows.values() if r.realm == realm and r.expires_at > now
                    and (sub is None or r.sub == sub) and (client_id is None or r.client_id == client_id)
                    and (kinds is None or r.kind in kinds)]
        return sorted(rows, key=lambda r: (r.issued_at, r.jti))[:limit]

    def purge_expired(self, now: int) -> int:
        with self._lock:
            dead = [h for h, r in self._rows.items() if r.expires_at <= now]
            for h in dead:
                del self._rows[h]
            if dead:
                self._s.burns += 1
            return len(dead)


class _OneTime(_Base):
    def __init__(self, store: MemoryStorage) -> None:
        super().__init__(store)
        self._rows: dict[tuple[str, str], int] = {}

    def burn(self, realm: str, one_time_id: str, expires_at: int) -> bool:
        with self._lock:
            if (realm, one_time_id) in self._rows:
                return False
            self._rows[(realm, one_time_id)] = expires_at
            self._s.burns += 1
            return True

    def is_burned(self, realm: str, one_time_id: str) -> bool:
        return (realm, one_time_id) in self._rows

    def any_burned(self, realm: str, one_time_ids: tuple[str, ...]) -> bool:
        return any((realm, one_time_id) in self._rows for one_time_id in one_time_ids)

    def purge_expired(self, now: int) -> int:
        with self._lock:
            dead = [k for k, exp in self._rows.items() if exp <= now]
            for k in dead:
                del self._rows[k]
            if dead:
                self._s.burns += 1
            return len(dead)


class _Keys(_Base):
    def __init__(self, store: MemoryStorage) -> None:
        super().__init__(store)
        self._rows: dict[tuple[str, str], SigningKey] = {}
        self._data_keys: dict[str, SealedDataKey] = {}

    def swap_active(self, realm: str, retire: Sequence[str], new: SigningKey, publish_until: int) -> bool:
        with self._lock:
            active = {k.kid for k in self._rows.values() if k.realm == realm and k.active}
            if active != set(retire) or (realm, new.kid) in self._rows:
                return False
            for kid in retire:
                self._rows[(realm, kid)] = replace(self._rows[(realm, kid)], active=False, publish_until=publish_until)
            self._rows[(realm, new.kid)] = new
            self._s.bump()
            return True

    def data_key(self, name: str) -> SealedDataKey | None:
        return self._data_keys.get(name)

    def add_data_key(self, key: SealedDataKey) -> bool:
        with self._lock:
            return self._data_keys.setdefault(key.name, key) is key

    def reseal_data_key(self, key: SealedDataKey, expected_master_id: str) -> bool:
        with self._lock:
            old = self._data_keys.get(key.name)
            if old is None or old.master_id != expected_master_id:
                return False
            self._data_keys[key.name] = key
            return True

    def all(self, realm: str) -> list[SigningKey]:
        return sorted((k for k in self._rows.values() if k.realm == realm), key=lambda k: (k.created_at, k.kid))

    def add(self, key: SigningKey) -> None:
        with self._lock:
            if (key.realm, key.kid) in self._rows:
                raise Conflict("key exists")
            self._rows[(key.realm, key.kid)] = key
            self._s.bump()

    def put(self, key: SigningKey) -> None:
        with self._lock:
            self._rows[(key.realm, key.kid)] = key
            self._s.bump()

    def delete(self, realm: str, kid: str) -> bool:
        with self._lock:
            self._s.bump()
            return self._rows.pop((realm, kid), None) is not None


class _Audit(_Base):
    def __init__(self, store: MemoryStorage) -> None:
        super().__init__(store)
        self._rows: list[AuditEvent] = []
        self._ids = count(1)

    def add(self, event: AuditEvent) -> None:
        with self._lock:
            self._rows.append(replace(event, id=next(self._ids)))

    def add_many(self, events: list[AuditEvent]) -> None:
        with self._lock:
            self._rows.extend(replace(event, id=next(self._ids)) for event in events)

    def query(self, realm: str | None = None, *, action: str | None = None, actor: str | None = None,
              target: str | None = None, decision: str | None = None, text: str | None = None,
              limit: int = 100, before: int | None = None, since: int | None = None) -> list[AuditEvent]:
        def keep(e: AuditEvent) -> bool:
            return ((realm is None or e.realm == realm) and (action is None or e.action == action)
                    and (before is None or (e.id or 0) < before) and (since is None or e.ts >= since)
                    and (actor is None or e.actor == actor) and (target is None or e.target == target)
                    and (decision is None or e.decision == decision)
                    and (text is None or text in f"{e.actor} {e.target} {e.reason} {e.details}"))
        return [e for e in reversed(self._rows) if keep(e)][:limit]


class _Admins(_Base):
    def __init__(self, store: MemoryStorage) -> None:
        super().__init__(store)
        self._rows: dict[str, AdminUser] = {}

    def get(self, username: str) -> AdminUser | None:
        return self._rows.get(username)

    def all(self) -> list[AdminUser]:
        return sorted(self._rows.values(), key=lambda a: a.username)

    def put(self, admin: AdminUser) -> None:
        with self._lock:
            self._rows[admin.username] = admin

    def delete(self, username: str) -> bool:
        with self._lock:
            return self._rows.pop(username, None) is not None


class MemoryEphemeral:
    """EphemeralState in this process's memory (one process: tests, `MemoryStorage`). Rate-limit keys are
    bounded (`max_rate_keys`; past it the least recently hit key is dropped first, so keys that keep
    hitting keep their count); failures and replay marks are kept until purged (their window bounds them)."""

    def __init__(self, *, max_rate_keys: int = 100_000) -> None:
        self._lock = threading.Lock()
        self._rows: dict[int, tuple[str, int, int]] = {}  # id -> (key, at, expires_at), in id order
        self._by_key: dict[str, list[int]] = {}
        self._ids = count(1)
        self._hits: LRUCache[str, deque[int]] = LRUCache(maxsize=max_rate_keys)  # the least recently hit goes first
        self._marks: dict[str, int] = {}  # replay marks: key -> expires_at

    def __len__(self) -> int:
        return len(self._hits)

    def hit(self, key: str, limit: int, window: int, now: int) -> int:
        with self._lock:
            hits = self._hits.get(key)  # a hit makes the key the most recently used
            if hits is None:
                hits = self._hits[key] = deque()
            while hits and hits[0] <= now - window:
                hits.popleft()
            if len(hits) >= limit:
                return max(1, hits[0] + window - now)
            hits.append(now)
            return 0

    async def first_use(self, key: str, expires_at: int, *, now: int) -> bool:
        with self._lock:
            until = self._marks.get(key)
            if until is not None and until > now:
                return False
            self._marks[key] = expires_at
            return True

    def add(self, key: str, at: int, expires_at: int) -> int:
        with self._lock:
            row_id = next(self._ids)
            self._rows[row_id] = (key, at, expires_at)
            self._by_key.setdefault(key, []).append(row_id)
            return row_id

    def recent(self, key: str, since: int, limit: int) -> list[int]:
        with self._lock:
            times = [self._rows[i][1] for i in self._by_key.get(key, ())]
        return sorted((at for at in times if at > since), reverse=True)[:limit]

    def newer(self, after_id: int, now: int, limit: int) -> list[tuple[int, str, int]]:
        with self._lock:
            rows = [(i, key, at) for i, (key, at, expires_at) in self._rows.items()
                    if i > after_id and expires_at > now]
        return rows[:limit]

    def purge_expired(self, now: int) -> int:
        with self._lock:
            gone = [i for i, row in self._rows.items() if row[2] <= now]
            for i in gone:
                key = self._rows.pop(i)[0]
                ids = self._by_key[key]
                ids.remove(i)
                if not ids:
                    del self._by_key[key]
            marks = [k for k, until in self._marks.items() if until <= now]
            for k in marks:
                del self._marks[k]
            return len(gone) + len(marks)

    def close(self) -> None:
        """Nothing to let go of."""


class _Usage(_Base):
    """Tokens issued per (realm, grant type, minute): noted straight into the stored counts."""

    def __init__(self, store: MemoryStorage) -> None:
        super().__init__(store)
        self._rows: dict[tuple[str, str, int], int] = {}

    def note(self, realm: str, grant_type: str, at: int) -> None:
        key = (realm, grant_type, minute_of(at))
        with self._lock:
            self._rows[key] = self._rows.get(key, 0) + 1

    def flush(self) -> None:
        return None

    def issued(self, realm: str, since: int) -> dict[str, int]:
        start = minute_of(since)
        out: dict[str, int] = {}
        with self._lock:
            for (r, grant, minute), n in self._rows.items():
                if r == realm and minute >= start:
                    out[grant] = out.get(grant, 0) + n
        return out

    def purge(self, before: int) -> int:
        with self._lock:
            gone = [k for k in self._rows if k[2] < before]
            for key in gone:
                del self._rows[key]
        return len(gone)


class MemoryStorage:
    counter_round_trip = False
    awaited_writes = None

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._changes = 0
        self.burns = 0  # moved by every burn and purge of one-time ids
        self.realms = _Realms(self)
        self.clients = _Clients(self)
        self.users = _Users(self)
        self.groups = _Groups(self)
        self.policies = _Policies(self)
        self.scripts = _Scripts(self)
        self.consents = _Consents(self)
        self.tokens = _Tokens(self)
        self.one_time = _OneTime(self)
        self.keys = _Keys(self)
        self.audit = _Audit(self)
        self.admins = _Admins(self)
        self.usage = _Usage(self)
        self.ephemeral = MemoryEphemeral()

    def bump(self) -> None:
        self._changes += 1

    def forget_realm(self, name: str) -> None:
        """Drop every record scoped to realm `name` (under self.lock); the audit trail stays."""
        realm_scoped = (self.clients, self.users, self.groups, self.policies, self.scripts, self.consents,
                        self.tokens, self.one_time, self.keys, self.usage)
        for repo in realm_scoped:
            tables: list[dict[Any, Any]] = [repo._rows, getattr(repo, "_used", {})]
            for table in tables:
                for key in [k for k, v in table.items() if _realm_of(k, v) == name]:
                    del table[key]

    def change_counter(self) -> int:
        return self._changes

    def counters(self) -> tuple[int, int]:
        return self._changes, self.burns

    async def counters_awaited(self) -> tuple[int, int]:
        return self.counters()

    def close(self) -> None:
        return None


def _realm_of(key: object, value: object) -> str | None:
    """The realm of a stored row: the first part of its key, or the record's own `realm` (tokens)."""
    if isinstance(key, tuple):
        return str(key[0])
    realm = getattr(value, "realm", None)
    return realm if isinstance(realm, str) else None


def _contains(text: str | None, *values: str | None) -> bool:
    """Whether any value contains `text`, case-insensitively (no text: every record)."""
    if not text:
        return True
    needle = text.casefold()
    return any(needle in (v or "").casefold() for v in values)


def _keyset(rows: list[Any], key: Callable[[Any], str], after: str | None, limit: int, descending: bool) -> list[Any]:
    """The page of `rows` after the key `after` in ascending (or descending) key order."""
    ordered = sorted(rows, key=key, reverse=descending)
    if after is not None:
        ordered = [r for r in ordered if (key(r) < after if descending else key(r) > after)]
    return ordered[:limit]
