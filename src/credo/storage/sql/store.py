"""SQL implementation of the storage ports."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import wraps
from typing import Any, ParamSpec, TypeVar

import orjson
from sqlalchemy import Connection, Engine, and_, delete, func, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import InterfaceError as SAInterfaceError

from credo.domain.models import (
    AdminUser,
    ApplicationPolicy,
    AuditEvent,
    Client,
    Group,
    Realm,
    Script,
    SigningKey,
    TokenRecord,
    User,
)
from credo.domain.settings import ProviderSettings
from credo.storage.protocols import Conflict, NewClient, StorageUnavailable
from credo.storage.sql import tables as t
from credo.storage.sql.fast import SqliteFastPath
from credo.storage.sql.fast_pg import PgFastPath
from credo.storage.sql.fast_rows import (
    AUDIT_INSERT_SQL,
    BURN_SQL,
    CLIENT_INSERT_SQL,
    CLIENT_SQL,
    IS_BURNED_SQL,
    REALM_SQL,
    TOKEN_GET_SQL,
    TOKEN_INSERT_SQL,
    TOUCH_SQL,
    ClientRow,
    Duplicate,
    any_burned_sql,
    client_params,
    token_params,
)

P = ParamSpec("P")
R = TypeVar("R")


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _unavailable(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn "cannot reach the database" into StorageUnavailable, so the edge answers 503."""

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except (OperationalError, SAInterfaceError) as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise StorageUnavailable("database busy") from exc
            raise StorageUnavailable("database unreachable") from exc
        except DBAPIError as exc:
            if exc.connection_invalidated:  # e.g. the SQLite file damaged or replaced (engine.py)
                raise StorageUnavailable("database unusable") from exc
            raise

    return wrapper


class _Repo:
    def __init__(self, store: SqlStorage) -> None:
        self._s = store

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._s.engine.connect().execution_options(credo_read=True) as conn, conn.begin():
            yield conn

    @contextmanager
    def _write(self, bump: bool = False) -> Iterator[Connection]:
        with self._s.engine.begin() as conn:
            yield conn
            if bump:
                conn.execute(update(t.change_counter).where(t.change_counter.c.id == 1)
                             .values(n=t.change_counter.c.n + 1))


def _client_from_row(row: Any) -> Client:
    d = orjson.loads(row.data)
    return Client(
        realm=row.realm, client_id=row.client_id, secret_hash=row.secret_hash, kind=row.kind,
        name=d.get("name", ""), grant_types=tuple(d.get("grant_types", ())), scopes=tuple(d.get("scopes", ())),
        auth_method=d.get("auth_method", "client_secret_basic"), redirect_uris=tuple(d.get("redirect_uris", ())),
        response_types=tuple(d.get("response_types", ())), attributes=d.get("attributes", {}),
        metadata=d.get("metadata", {}), enabled=bool(row.enabled), dynamic=bool(row.dynamic),
        created_at=row.created_at, updated_at=row.updated_at, app_type=d.get("app_type"),
        owners=tuple(d.get("owners", ())), registration_token_hash=row.registration_token_hash,
        registration_token_expires_at=row.registration_token_expires_at,
    )


def _client_values(c: Client) -> dict[str, Any]:
    data = {"name": c.name, "grant_types": list(c.grant_types), "scopes": list(c.scopes),
            "auth_method": c.auth_method, "redirect_uris": list(c.redirect_uris),
            "response_types": list(c.response_types), "attributes": c.attributes, "metadata": c.metadata,
            "app_type": c.app_type, "owners": list(c.owners)}
    return {"realm": c.realm, "client_id": c.client_id, "kind": c.kind, "dynamic": c.dynamic,
            "enabled": c.enabled, "created_at": c.created_at, "updated_at": c.updated_at,
            "secret_hash": c.secret_hash, "registration_token_hash": c.registration_token_hash,
            "registration_token_expires_at": c.registration_token_expires_at, "data": _dumps(data)}


class SqlRealms(_Repo):
    @_unavailable
    def get(self, name: str) -> Realm | None:
        if self._s.fast is not None:
            raw = self._s.fast.one(REALM_SQL, (name,))
            return None if raw is None else _realm_parsed(*raw)
        with self._read() as conn:
            row = conn.execute(select(t.realms).where(t.realms.c.name == name)).first()
        return None if row is None else _realm(row)

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
    def delete(self, name: str) -> bool:
        with self._write(bump=True) as conn:
            return bool(conn.execute(delete(t.realms).where(t.realms.c.name == name)).rowcount)


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


def _create_statements(new: NewClient) -> list[tuple[str, tuple[Any, ...]]]:
    """The fast path's statements for one `create`: the burn, the client row, the audit event."""
    statements: list[tuple[str, tuple[Any, ...]]] = [] if new.burn is None else [
        (BURN_SQL, (new.client.realm, new.burn[0], new.burn[1]))]
    statements.append((CLIENT_INSERT_SQL, client_params(_client_values(new.client))))
    if new.audit is not None:
        statements.append((AUDIT_INSERT_SQL, _audit_params(new.audit)))
    return statements


def _insert_new(conn: Connection, new: NewClient) -> None:
    if new.burn is not None:
        conn.execute(insert(t.one_time_ids).values(realm=new.client.realm, id=new.burn[0], expires_at=new.burn[1]))
    conn.execute(insert(t.clients).values(**_client_values(new.client)))
    if new.audit is not None:
        conn.execute(insert(t.audit_events).values(_audit_values(new.audit)))


class SqlClients(_Repo):
    def _key(self, realm: str, client_id: str) -> Any:
        return and_(t.clients.c.realm == realm, t.clients.c.client_id == client_id)

    @_unavailable
    def get(self, realm: str, client_id: str) -> Client | None:
        if self._s.fast is not None:
            raw = self._s.fast.one(CLIENT_SQL, (realm, client_id))
            return None if raw is None else _client_from_row(ClientRow(*raw))
        with self._read() as conn:
            row = conn.execute(select(t.clients).where(self._key(realm, client_id))).first()
        return None if row is None else _client_from_row(row)

    @_unavailable
    def all(self, realm: str, *, kind: str | None = None, dynamic: bool | None = None,
             limit: int = 1000, offset: int = 0) -> list[Client]:
        q = select(t.clients).where(t.clients.c.realm == realm)
        if kind is not None:
            q = q.where(t.clients.c.kind == kind)
        if dynamic is not None:
            q = q.where(t.clients.c.dynamic == dynamic)
        q = q.order_by(t.clients.c.client_id).limit(limit).offset(offset)
        with self._read() as conn:
            return [_client_from_row(r) for r in conn.execute(q)]

    @_unavailable
    def count(self, realm: str, *, dynamic: bool | None = None) -> int:
        q = select(func.count()).select_from(t.clients).where(t.clients.c.realm == realm)
        if dynamic is not None:
            q = q.where(t.clients.c.dynamic == dynamic)
        with self._read() as conn:
            return int(conn.execute(q).scalar_one())

    @_unavailable
    def create(self, client: Client, *, burn: tuple[str, int] | None = None, audit: AuditEvent | None = None) -> None:
        # No counter bump (here or in create_many): a new client is in no cache (Services.client).
        if self._s.fast is not None:
            try:
                self._s.fast.transaction(_create_statements(NewClient(client, burn, audit)))
            except Duplicate as exc:
                raise Conflict(str(exc)) from exc
            return
        try:
            with self._write() as conn:
                _insert_new(conn, NewClient(client, burn, audit))
        except IntegrityError as exc:
            raise Conflict(str(exc.orig)) from exc

    @_unavailable
    def create_many(self, new: Sequence[NewClient]) -> list[Conflict | None]:
        if self._s.fast is not None:
            failed = self._s.fast.transaction_each([_create_statements(item) for item in new])
            return [None if exc is None else Conflict(str(exc)) for exc in failed]
        outcomes: list[Conflict | None] = []
        with self._write() as conn:
            for item in new:
                try:
                    with conn.begin_nested():  # a savepoint: a conflict undoes this item only
                        _insert_new(conn, item)
                except IntegrityError as exc:
                    outcomes.append(Conflict(str(exc.orig)))
                else:
                    outcomes.append(None)
        return outcomes

    @_unavailable
    def update(self, client: Client, *, expected_registration_token_hash: str | None = None) -> bool:
        q = update(t.clients).where(self._key(client.realm, client.client_id))
        if expected_registration_token_hash is not None:
            q = q.where(t.clients.c.registration_token_hash == expected_registration_token_hash)
        values = _client_values(client)
        del values["realm"], values["client_id"]
        with self._write(bump=True) as conn:
            return bool(conn.execute(q.values(**values)).rowcount)

    @_unavailable
    def delete(self, realm: str, client_id: str, *, expected_registration_token_hash: str | None = None) -> bool:
        q = delete(t.clients).where(self._key(realm, client_id))
        if expected_registration_token_hash is not None:
            q = q.where(t.clients.c.registration_token_hash == expected_registration_token_hash)
        with self._write(bump=True) as conn:
            gone = bool(conn.execute(q).rowcount)
            if gone:
                conn.execute(delete(t.policies).where(and_(
                    t.policies.c.realm == realm,
                    (t.policies.c.agent_id == client_id) | (t.policies.c.application_id == client_id))))
            return gone

    @_unavailable
    def touch(self, realm: str, client_id: str, when: int) -> None:
        if self._s.fast is not None:
            self._s.fast.write(TOUCH_SQL, (when, realm, client_id))
            return
        with self._write() as conn:
            conn.execute(update(t.clients).where(self._key(realm, client_id)).values(last_used_at=when))

    @_unavailable
    def last_used(self, realm: str, client_id: str) -> int | None:
        with self._read() as conn:
            return conn.execute(select(t.clients.c.last_used_at).where(self._key(realm, client_id))).scalar()


def _user(row: Any) -> User:
    return User(realm=row.realm, id=row.id, username=row.username, password_hash=row.password_hash,
                active=bool(row.active), created_at=row.created_at)


class SqlUsers(_Repo):
    @_unavailable
    def get(self, realm: str, user_id: str) -> User | None:
        with self._read() as conn:
            row = conn.execute(select(t.users).where(t.users.c.realm == realm, t.users.c.id == user_id)).first()
        return None if row is None else _user(row)

    @_unavailable
    def by_username(self, realm: str, username: str) -> User | None:
        with self._read() as conn:
            row = conn.execute(select(t.users).where(t.users.c.realm == realm,
                                                     t.users.c.username == username)).first()
        return None if row is None else _user(row)

    @_unavailable
    def all(self, realm: str) -> list[User]:
        with self._read() as conn:
            rows = conn.execute(select(t.users).where(t.users.c.realm == realm).order_by(t.users.c.username))
            return [_user(r) for r in rows]

    @_unavailable
    def put(self, user: User) -> None:
        values = {"username": user.username, "password_hash": user.password_hash, "active": user.active,
                  "created_at": user.created_at}
        try:
            with self._write(bump=True) as conn:
                q = update(t.users).where(t.users.c.realm == user.realm, t.users.c.id == user.id).values(**values)
                if conn.execute(q).rowcount == 0:
                    conn.execute(insert(t.users).values(realm=user.realm, id=user.id, **values))
        except IntegrityError as exc:
            raise Conflict(f"username {user.username} exists") from exc

    @_unavailable
    def delete(self, realm: str, user_id: str) -> bool:
        with self._write(bump=True) as conn:
            conn.execute(delete(t.group_members).where(t.group_members.c.realm == realm,
                                                       t.group_members.c.user_id == user_id))
            return bool(conn.execute(delete(t.users).where(t.users.c.realm == realm,
                                                           t.users.c.id == user_id)).rowcount)


class SqlGroups(_Repo):
    def _members(self, conn: Connection, realm: str, name: str) -> tuple[str, ...]:
        q = select(t.group_members.c.user_id).where(t.group_members.c.realm == realm,
                                                    t.group_members.c.group_name == name)
        return tuple(sorted(conn.execute(q).scalars()))

    @_unavailable
    def get(self, realm: str, name: str) -> Group | None:
        with self._read() as conn:
            row = conn.execute(select(t.groups).where(t.groups.c.realm == realm, t.groups.c.name == name)).first()
            return None if row is None else Group(realm, name, self._members(conn, realm, name))

    @_unavailable
    def all(self, realm: str) -> list[Group]:
        with self._read() as conn:
            names = conn.execute(select(t.groups.c.name).where(t.groups.c.realm == realm)
                                 .order_by(t.groups.c.name)).scalars().all()
            return [Group(realm, n, self._members(conn, realm, n)) for n in names]

    @_unavailable
    def groups_of(self, realm: str, user_id: str) -> list[str]:
        with self._read() as conn:
            q = select(t.group_members.c.group_name).where(t.group_members.c.realm == realm,
                                                           t.group_members.c.user_id == user_id)
            return sorted(conn.execute(q).scalars())

    @_unavailable
    def put(self, group: Group) -> None:
        with self._write(bump=True) as conn:
            if conn.execute(select(t.groups.c.name).where(t.groups.c.realm == group.realm,
                                                          t.groups.c.name == group.name)).first() is None:
                conn.execute(insert(t.groups).values(realm=group.realm, name=group.name))
            conn.execute(delete(t.group_members).where(t.group_members.c.realm == group.realm,
                                                       t.group_members.c.group_name == group.name))
            members = sorted(set(group.members))
            if members:
                conn.execute(insert(t.group_members), [
                    {"realm": group.realm, "group_name": group.name, "user_id": m} for m in members])

    @_unavailable
    def delete(self, realm: str, name: str) -> bool:
        with self._write(bump=True) as conn:
            conn.execute(delete(t.group_members).where(t.group_members.c.realm == realm,
                                                       t.group_members.c.group_name == name))
            return bool(conn.execute(delete(t.groups).where(t.groups.c.realm == realm,
                                                            t.groups.c.name == name)).rowcount)


def _policy(row: Any) -> ApplicationPolicy:
    d = orjson.loads(row.data)
    return ApplicationPolicy(realm=row.realm, agent_id=row.agent_id, application_id=row.application_id,
                             subjects=tuple(d["subjects"]), subject_groups=tuple(d["subject_groups"]),
                             permissions=tuple(d["permissions"]))


class SqlPolicies(_Repo):
    def _key(self, realm: str, agent_id: str, application_id: str) -> Any:
        return and_(t.policies.c.realm == realm, t.policies.c.agent_id == agent_id,
                    t.policies.c.application_id == application_id)

    @_unavailable
    def get(self, realm: str, agent_id: str, application_id: str) -> ApplicationPolicy | None:
        with self._read() as conn:
            row = conn.execute(select(t.policies).where(self._key(realm, agent_id, application_id))).first()
        return None if row is None else _policy(row)

    @_unavailable
    def for_agent(self, realm: str, agent_id: str) -> list[ApplicationPolicy]:
        with self._read() as conn:
            q = select(t.policies).where(t.policies.c.realm == realm, t.policies.c.agent_id == agent_id)
            return [_policy(r) for r in conn.execute(q.order_by(t.policies.c.application_id))]

    @_unavailable
    def put(self, policy: ApplicationPolicy) -> None:
        data = _dumps({"subjects": list(policy.subjects), "subject_groups": list(policy.subject_groups),
                       "permissions": list(policy.permissions)})
        with self._write(bump=True) as conn:
            key = self._key(policy.realm, policy.agent_id, policy.application_id)
            if conn.execute(update(t.policies).where(key).values(data=data)).rowcount == 0:
                conn.execute(insert(t.policies).values(realm=policy.realm, agent_id=policy.agent_id,
                                                       application_id=policy.application_id, data=data))

    @_unavailable
    def delete(self, realm: str, agent_id: str, application_id: str) -> bool:
        with self._write(bump=True) as conn:
            return bool(conn.execute(delete(t.policies).where(self._key(realm, agent_id, application_id))).rowcount)


def _script(row: Any) -> Script:
    return Script(realm=row.realm, id=row.id, name=row.name, source=row.source, description=row.description,
                  type=row.type, created_at=row.created_at, updated_at=row.updated_at)


class SqlScripts(_Repo):
    @_unavailable
    def get(self, realm: str, script_id: str) -> Script | None:
        with self._read() as conn:
            row = conn.execute(select(t.scripts).where(t.scripts.c.realm == realm,
                                                       t.scripts.c.id == script_id)).first()
        return None if row is None else _script(row)

    @_unavailable
    def all(self, realm: str) -> list[Script]:
        with self._read() as conn:
            q = select(t.scripts).where(t.scripts.c.realm == realm).order_by(t.scripts.c.name)
            return [_script(r) for r in conn.execute(q)]

    @_unavailable
    def put(self, script: Script) -> None:
        values = {"name": script.name, "description": script.description, "type": script.type,
                  "source": script.source, "created_at": script.created_at, "updated_at": script.updated_at}
        with self._write(bump=True) as conn:
            q = update(t.scripts).where(t.scripts.c.realm == script.realm, t.scripts.c.id == script.id)
            if conn.execute(q.values(**values)).rowcount == 0:
                conn.execute(insert(t.scripts).values(realm=script.realm, id=script.id, **values))

    @_unavailable
    def delete(self, realm: str, script_id: str) -> bool:
        with self._write(bump=True) as conn:
            return bool(conn.execute(delete(t.scripts).where(t.scripts.c.realm == realm,
                                                             t.scripts.c.id == script_id)).rowcount)


class SqlTokens(_Repo):
    @_unavailable
    def add(self, record: TokenRecord) -> None:
        if self._s.fast is not None:
            try:
                self._s.fast.write(TOKEN_INSERT_SQL, token_params(record, _dumps(record.claims)))
            except Duplicate as exc:
                raise Conflict("token exists") from exc
            return
        try:
            with self._write() as conn:
                conn.execute(insert(t.tokens).values(**_token_values(record)))
        except IntegrityError as exc:
            raise Conflict("token exists") from exc

    @_unavailable
    def add_many(self, records: list[TokenRecord]) -> None:
        if not records:
            return
        if len(records) == 1:
            self.add(records[0])
            return
        if self._s.fast is not None:
            try:
                self._s.fast.transaction([(TOKEN_INSERT_SQL, token_params(r, _dumps(r.claims))) for r in records])
            except Duplicate as exc:
                raise Conflict("token exists") from exc
            return
        try:
            with self._write() as conn:
                conn.execute(insert(t.tokens), [_token_values(r) for r in records])
        except IntegrityError as exc:
            raise Conflict("token exists") from exc

    @_unavailable
    def get(self, token_hash: str) -> TokenRecord | None:
        if self._s.fast is not None:
            row = self._s.fast.one(TOKEN_GET_SQL, (token_hash,))
            if row is None:
                return None
            return TokenRecord(token_hash=row[0], realm=row[1], jti=row[2], kind=row[3], client_id=row[4], sub=row[5],
                               scopes=tuple(row[6].split()), issued_at=row[7], expires_at=row[8],
                               claims=orjson.loads(row[9]))
        with self._read() as conn:
            row = conn.execute(select(t.tokens).where(t.tokens.c.token_hash == token_hash)).first()
        if row is None:
            return None
        return TokenRecord(token_hash=row.token_hash, realm=row.realm, jti=row.jti, kind=row.kind,
                           client_id=row.client_id, sub=row.sub, scopes=tuple(row.scopes.split()),
                           issued_at=row.issued_at, expires_at=row.expires_at, claims=orjson.loads(row.claims))

    @_unavailable
    def delete(self, token_hash: str) -> bool:
        with self._write() as conn:
            return bool(conn.execute(delete(t.tokens).where(t.tokens.c.token_hash == token_hash)).rowcount)

    @_unavailable
    def purge_expired(self, now: int) -> int:
        with self._write() as conn:
            return int(conn.execute(delete(t.tokens).where(t.tokens.c.expires_at <= now)).rowcount)


class SqlOneTime(_Repo):
    @_unavailable
    def burn(self, realm: str, one_time_id: str, expires_at: int) -> bool:
        if self._s.fast is not None:
            try:
                self._s.fast.write(BURN_SQL, (realm, one_time_id, expires_at))
            except Duplicate:
                return False
            return True
        try:
            with self._write() as conn:
                conn.execute(insert(t.one_time_ids).values(realm=realm, id=one_time_id, expires_at=expires_at))
            return True
        except IntegrityError:
            return False

    @_unavailable
    def is_burned(self, realm: str, one_time_id: str) -> bool:
        if self._s.fast is not None:
            return self._s.fast.one(IS_BURNED_SQL, (realm, one_time_id)) is not None
        with self._read() as conn:
            q = select(t.one_time_ids.c.id).where(t.one_time_ids.c.realm == realm, t.one_time_ids.c.id == one_time_id)
            return conn.execute(q).first() is not None

    @_unavailable
    def any_burned(self, realm: str, one_time_ids: tuple[str, ...]) -> bool:
        if len(one_time_ids) == 1:
            return self.is_burned(realm, one_time_ids[0])
        if not one_time_ids:
            return False
        if self._s.fast is not None:
            return self._s.fast.one(any_burned_sql(len(one_time_ids)), (realm, *one_time_ids)) is not None
        with self._read() as conn:
            q = select(t.one_time_ids.c.id).where(t.one_time_ids.c.realm == realm,
                                                  t.one_time_ids.c.id.in_(one_time_ids)).limit(1)
            return conn.execute(q).first() is not None

    @_unavailable
    def purge_expired(self, now: int) -> int:
        with self._write() as conn:
            return int(conn.execute(delete(t.one_time_ids).where(t.one_time_ids.c.expires_at <= now)).rowcount)


def _key_row(row: Any) -> SigningKey:
    return SigningKey(realm=row.realm, kid=row.kid, alg=row.alg, private_key_encrypted=bytes(row.private_key_encrypted),
                      public_jwk=orjson.loads(row.public_jwk), created_at=row.created_at, active=bool(row.active),
                      publish_until=row.publish_until)


class SqlKeys(_Repo):
    @_unavailable
    def all(self, realm: str) -> list[SigningKey]:
        with self._read() as conn:
            q = select(t.signing_keys).where(t.signing_keys.c.realm == realm)
            return [_key_row(r) for r in conn.execute(q.order_by(t.signing_keys.c.created_at, t.signing_keys.c.kid))]

    def _values(self, key: SigningKey) -> dict[str, Any]:
        return {"alg": key.alg, "private_key_encrypted": key.private_key_encrypted,
                "public_jwk": _dumps(key.public_jwk), "created_at": key.created_at, "active": key.active,
                "publish_until": key.publish_until}

    @_unavailable
    def add(self, key: SigningKey) -> None:
        try:
            with self._write(bump=True) as conn:
                conn.execute(insert(t.signing_keys).values(realm=key.realm, kid=key.kid, **self._values(key)))
        except IntegrityError as exc:
            raise Conflict("key exists") from exc

    @_unavailable
    def put(self, key: SigningKey) -> None:
        with self._write(bump=True) as conn:
            q = update(t.signing_keys).where(t.signing_keys.c.realm == key.realm, t.signing_keys.c.kid == key.kid)
            if conn.execute(q.values(**self._values(key))).rowcount == 0:
                conn.execute(insert(t.signing_keys).values(realm=key.realm, kid=key.kid, **self._values(key)))

    @_unavailable
    def delete(self, realm: str, kid: str) -> bool:
        with self._write(bump=True) as conn:
            return bool(conn.execute(delete(t.signing_keys).where(t.signing_keys.c.realm == realm,
                                                                  t.signing_keys.c.kid == kid)).rowcount)


def _token_values(record: TokenRecord) -> dict[str, Any]:
    return {"token_hash": record.token_hash, "realm": record.realm, "jti": record.jti, "kind": record.kind,
            "client_id": record.client_id, "sub": record.sub, "scopes": " ".join(record.scopes),
            "issued_at": record.issued_at, "expires_at": record.expires_at, "claims": _dumps(record.claims)}


def _audit_values(event: AuditEvent) -> dict[str, Any]:
    return {"realm": event.realm, "ts": event.ts, "action": event.action, "actor": event.actor,
            "decision": event.decision, "target": event.target, "reason": event.reason,
            "details": _dumps(event.details)}


def _audit_params(event: AuditEvent) -> tuple[Any, ...]:
    return (event.realm, event.ts, event.action, event.actor, event.decision, event.target, event.reason,
            _dumps(event.details))


class SqlAudit(_Repo):
    @_unavailable
    def add(self, event: AuditEvent) -> None:
        if self._s.fast is not None:
            self._s.fast.write(AUDIT_INSERT_SQL, _audit_params(event))
            return
        with self._write() as conn:
            conn.execute(insert(t.audit_events).values(_audit_values(event)))

    @_unavailable
    def add_many(self, events: list[AuditEvent]) -> None:
        if not events:
            return
        if self._s.fast is not None:
            if len(events) == 1:  # autocommit: one statement instead of BEGIN, INSERT, COMMIT
                self._s.fast.write(AUDIT_INSERT_SQL, _audit_params(events[0]))
            else:
                self._s.fast.transaction([(AUDIT_INSERT_SQL, _audit_params(event)) for event in events])
            return
        with self._write() as conn:
            conn.execute(insert(t.audit_events), [_audit_values(event) for event in events])

    @_unavailable
    def query(self, realm: str | None = None, *, action: str | None = None, actor: str | None = None,
              target: str | None = None, decision: str | None = None, text: str | None = None,
              limit: int = 100) -> list[AuditEvent]:
        c = t.audit_events.c
        q = select(t.audit_events)
        for col, value in ((c.realm, realm), (c.action, action), (c.actor, actor), (c.target, target),
                           (c.decision, decision)):
            if value is not None:
                q = q.where(col == value)
        if text:
            like = f"%{text}%"
            q = q.where(c.actor.like(like) | c.target.like(like) | c.reason.like(like) | c.details.like(like))
        with self._read() as conn:
            rows = conn.execute(q.order_by(c.id.desc()).limit(limit))
            return [AuditEvent(realm=r.realm, action=r.action, actor=r.actor, decision=r.decision, target=r.target,
                               reason=r.reason, details=orjson.loads(r.details), ts=r.ts, id=r.id) for r in rows]


class SqlAdmins(_Repo):
    @_unavailable
    def get(self, username: str) -> AdminUser | None:
        with self._read() as conn:
            row = conn.execute(select(t.admins).where(t.admins.c.username == username)).first()
        return None if row is None else AdminUser(row.username, row.password_hash, row.created_at,
                                                  bool(row.must_change_password))

    @_unavailable
    def all(self) -> list[AdminUser]:
        with self._read() as conn:
            return [AdminUser(r.username, r.password_hash, r.created_at, bool(r.must_change_password))
                    for r in conn.execute(select(t.admins).order_by(t.admins.c.username))]

    @_unavailable
    def put(self, admin: AdminUser) -> None:
        values = {"password_hash": admin.password_hash, "created_at": admin.created_at,
                  "must_change_password": admin.must_change_password}
        with self._write() as conn:
            q = update(t.admins).where(t.admins.c.username == admin.username).values(**values)
            if conn.execute(q).rowcount == 0:
                conn.execute(insert(t.admins).values(username=admin.username, **values))

    @_unavailable
    def delete(self, username: str) -> bool:
        with self._write() as conn:
            return bool(conn.execute(delete(t.admins).where(t.admins.c.username == username)).rowcount)


class SqlStorage:
    def __init__(self, engine: Engine, *, fast_path: bool = True) -> None:
        """`fast_path=False`: every statement through SQLAlchemy (to compare the fast paths against)."""
        self.engine = engine
        self.fast: SqliteFastPath | PgFastPath | None = None
        self.counter_round_trip = engine.dialect.name != "sqlite"
        if not fast_path:
            pass
        elif SqliteFastPath.supports(engine):
            self.fast = SqliteFastPath(engine)
        elif PgFastPath.supports(engine):
            self.fast = PgFastPath(engine)
        if self.fast is not None:
            self.change_counter = self.fast.change_counter  # type: ignore[method-assign]
        self.realms = SqlRealms(self)
        self.clients = SqlClients(self)
        self.users = SqlUsers(self)
        self.groups = SqlGroups(self)
        self.policies = SqlPolicies(self)
        self.scripts = SqlScripts(self)
        self.tokens = SqlTokens(self)
        self.one_time = SqlOneTime(self)
        self.keys = SqlKeys(self)
        self.audit = SqlAudit(self)
        self.admins = SqlAdmins(self)
        from credo.storage.sql.throttle_store import SqlAuthFailures  # here: it builds on this module

        self.auth_failures = SqlAuthFailures(self)

    @_unavailable
    def change_counter(self) -> int:
        if self.fast is not None:
            return self.fast.change_counter()
        with self.engine.connect().execution_options(credo_read=True) as conn, conn.begin():
            return int(conn.execute(select(t.change_counter.c.n).where(t.change_counter.c.id == 1)).scalar() or 0)

    def close(self) -> None:
        if self.fast is not None:
            self.fast.close()
        self.engine.dispose()
