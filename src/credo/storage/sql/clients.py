"""SQL clients. Reading, creating (with the burn and the audit event of a registration) and touching
are hot statements (driver only); listing, updating, deleting and the lookup by resource are
administration (SQLAlchemy). A client's resource identifiers live in its `data` and, one row each, in
`client_resources`, written in the client's own transaction: that table's primary key is what keeps a
resource to one client of a realm (a duplicate is a Conflict)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import Connection, and_, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from credo.domain.models import AuditEvent, Client
from credo.storage.protocols import Conflict, LimitReached, NewClient
from credo.storage.sql import tables as t
from credo.storage.sql.audit import audit_params
from credo.storage.sql.repo import Statements, _dumps, _Repo, _unavailable, escape_like
from credo.storage.sql.statements import (
    AUDIT_INSERT,
    BURN,
    BURNS_BUMP,
    CLIENT_GET,
    CLIENT_INSERT,
    CLIENT_RESOURCE_INSERT,
    DYNAMIC_ROOM,
    MAX_CLIENTS_REFUSAL,
    REALM_LOCK,
    TOUCH,
    Duplicate,
    row_type,
)

_ClientRow = row_type("ClientRow", t.clients)


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
        application_type=d.get("application_type", "web"),
        post_logout_redirect_uris=tuple(d.get("post_logout_redirect_uris", ())),
        skip_consent=bool(d.get("skip_consent", False)), resources=tuple(d.get("resources", ())),
        version=row.version,
    )


def _client_values(c: Client) -> dict[str, Any]:
    """A client's row (but last_used_at), for CLIENT_INSERT and the administration updates (booleans stay
    booleans: sqlite3 stores them as 0 and 1, PostgreSQL's columns are boolean)."""
    data = {"name": c.name, "grant_types": list(c.grant_types), "scopes": list(c.scopes),
            "auth_method": c.auth_method, "redirect_uris": list(c.redirect_uris),
            "response_types": list(c.response_types), "attributes": c.attributes, "metadata": c.metadata,
            "app_type": c.app_type, "owners": list(c.owners), "application_type": c.application_type,
            "post_logout_redirect_uris": list(c.post_logout_redirect_uris), "skip_consent": c.skip_consent,
            "resources": list(c.resources)}
    return {"realm": c.realm, "client_id": c.client_id, "kind": c.kind, "dynamic": c.dynamic,
            "enabled": c.enabled, "created_at": c.created_at, "updated_at": c.updated_at,
            "secret_hash": c.secret_hash, "registration_token_hash": c.registration_token_hash,
            "registration_token_expires_at": c.registration_token_expires_at, "data": _dumps(data),
            "version": c.version}


def _create_statements(new: NewClient) -> Statements:
    """The statements of one creation, all or nothing: the burn, the client row, the audit event."""
    realm = new.client.realm
    statements: Statements = [] if new.max_dynamic is None else [(REALM_LOCK, (realm,)),
                                                                 (DYNAMIC_ROOM, (new.max_dynamic, realm))]
    if new.burn is not None:
        statements.extend(((BURN, (realm, new.burn[0], new.burn[1])), (BURNS_BUMP, ())))
    statements.append((CLIENT_INSERT, CLIENT_INSERT.params(_client_values(new.client))))
    statements.extend((CLIENT_RESOURCE_INSERT, params) for params in client_resource_params(new.client))
    if new.audit is not None:
        statements.append((AUDIT_INSERT, audit_params(new.audit)))
    return statements


def _conflict(exc: Duplicate) -> Conflict:
    return LimitReached(str(exc)) if MAX_CLIENTS_REFUSAL in str(exc) else Conflict(str(exc))


def client_resource_params(c: Client) -> list[tuple[str, str, str]]:
    """The client_resources rows of `c` as (realm, resource, client_id), each resource once."""
    return [(c.realm, resource, c.client_id) for resource in dict.fromkeys(c.resources)]


def _replace_resources(conn: Connection, c: Client) -> None:
    """Make `c`'s client_resources rows its resources (IntegrityError: another client has one)."""
    conn.execute(delete(t.client_resources).where(t.client_resources.c.realm == c.realm,
                                                  t.client_resources.c.client_id == c.client_id))
    rows = client_resource_params(c)
    if rows:
        conn.execute(insert(t.client_resources),
                     [dict(zip(CLIENT_RESOURCE_INSERT.keys, row, strict=True)) for row in rows])


class SqlClients(_Repo):
    def _key(self, realm: str, client_id: str) -> Any:
        return and_(t.clients.c.realm == realm, t.clients.c.client_id == client_id)

    @_unavailable
    def get(self, realm: str, client_id: str) -> Client | None:
        raw = self._fast.one(CLIENT_GET, (realm, client_id))
        return None if raw is None else _client_from_row(_ClientRow._make(raw))

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
    def count(self, realm: str, *, dynamic: bool | None = None, kind: str | None = None) -> int:
        q = select(func.count()).select_from(t.clients).where(t.clients.c.realm == realm)
        if dynamic is not None:
            q = q.where(t.clients.c.dynamic == dynamic)
        if kind is not None:
            q = q.where(t.clients.c.kind == kind)
        with self._read() as conn:
            return int(conn.execute(q).scalar_one())

    @_unavailable
    def search(self, realm: str, *, kind: str | None = None, dynamic: bool | None = None, text: str | None = None,
               after: str | None = None, limit: int = 50, descending: bool = False) -> list[Client]:
        c = t.clients.c
        q = select(t.clients).where(c.realm == realm)
        if kind is not None:
            q = q.where(c.kind == kind)
        if dynamic is not None:
            q = q.where(c.dynamic == dynamic)
        if text:
            like = f"%{escape_like(text.casefold())}%"
            q = q.where(func.lower(c.client_id).like(like, escape="\\") | func.lower(c.data).like(like, escape="\\"))
        if after is not None:
            q = q.where(c.client_id < after if descending else c.client_id > after)
        q = q.order_by(c.client_id.desc() if descending else c.client_id).limit(limit)
        with self._read() as conn:
            return [_client_from_row(r) for r in conn.execute(q)]

    @_unavailable
    def create(self, client: Client, *, burn: tuple[str, int] | None = None,
               audit: AuditEvent | None = None, max_dynamic: int | None = None) -> None:
        # No counter bump (here or in create_many): a new client is in no cache (Services.client).
        try:
            self._fast.transaction(_create_statements(NewClient(client, burn, audit, max_dynamic)))
        except Duplicate as exc:
            raise _conflict(exc) from exc

    @_unavailable
    def create_many(self, new: Sequence[NewClient]) -> list[Conflict | None]:
        if not new:
            return []
        failed = self._fast.transaction_each([_create_statements(item) for item in new])
        return [None if exc is None else _conflict(exc) for exc in failed]

    def current(self, realm: str, client_id: str) -> Client | None:
        return self.get(realm, client_id)  # this backend caches nothing

    @_unavailable
    def update(self, client: Client, *, expected_registration_token_hash: str | None = None) -> bool:
        c = t.clients.c
        q = update(t.clients).where(self._key(client.realm, client.client_id), c.version == client.version)
        values = _client_values(client)
        del values["realm"], values["client_id"]
        values["version"] = client.version + 1
        if expected_registration_token_hash is None:  # the stored token stays (never a used one back)
            del values["registration_token_hash"], values["registration_token_expires_at"]
        else:
            q = q.where(c.registration_token_hash == expected_registration_token_hash)
        try:
            with self._write(bump=True) as conn:
                if not conn.execute(q.values(**values)).rowcount:
                    return False
                _replace_resources(conn, client)
                return True
        except IntegrityError as exc:
            raise Conflict(f"a resource of client {client.client_id} belongs to another client") from exc

    @_unavailable
    def swap_registration_token(self, client: Client, *, expected_registration_token_hash: str) -> bool:
        c = t.clients.c
        q = update(t.clients).where(self._key(client.realm, client.client_id), c.version == client.version,
                                    c.registration_token_hash == expected_registration_token_hash)
        with self._write() as conn:  # no bump: nothing cached reads the token
            return bool(conn.execute(q.values(
                registration_token_hash=client.registration_token_hash,
                registration_token_expires_at=client.registration_token_expires_at)).rowcount)

    @_unavailable
    def delete(self, realm: str, client_id: str, *, expected_registration_token_hash: str | None = None,
               expected_version: int | None = None) -> bool:
        q = delete(t.clients).where(self._key(realm, client_id))
        if expected_registration_token_hash is not None:
            q = q.where(t.clients.c.registration_token_hash == expected_registration_token_hash)
        if expected_version is not None:
            q = q.where(t.clients.c.version == expected_version)
        with self._write(bump=True) as conn:
            gone = bool(conn.execute(q).rowcount)
            if gone:
                conn.execute(delete(t.policies).where(and_(
                    t.policies.c.realm == realm,
                    (t.policies.c.agent_id == client_id) | (t.policies.c.application_id == client_id))))
                for table in (t.client_resources, t.consents):
                    conn.execute(delete(table).where(table.c.realm == realm, table.c.client_id == client_id))
            return gone

    @_unavailable
    def touch(self, realm: str, client_id: str, when: int) -> None:
        self._fast.write(TOUCH, (when, realm, client_id))

    @_unavailable
    def last_used(self, realm: str, client_id: str) -> int | None:
        with self._read() as conn:
            return conn.execute(select(t.clients.c.last_used_at).where(self._key(realm, client_id))).scalar()

    @_unavailable
    def by_resource(self, realm: str, resource: str) -> Client | None:
        r = t.client_resources.c
        q = select(t.clients).join(t.client_resources, and_(r.realm == t.clients.c.realm,
                                                            r.client_id == t.clients.c.client_id)) \
            .where(r.realm == realm, r.resource == resource)
        with self._read() as conn:
            row = conn.execute(q).first()
        return None if row is None else _client_from_row(row)
