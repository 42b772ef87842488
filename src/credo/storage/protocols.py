"""The storage ports. Every backend (memory, SQLite, PostgreSQL) passes one contract suite.

Rules every implementation keeps:
- writes are atomic; compare-and-swap methods return False instead of raising on a lost race;
- a one-time identifier can be burned exactly once, even under concurrency;
- the backend never sees a bearer secret: tokens and secrets arrive already hashed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

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
from credo.domain.values import value_object


class Conflict(Exception):
    """A unique key already exists."""


class LimitReached(Conflict):
    """A creation that would pass a limit checked in its transaction (the realm's max_clients)."""


@value_object
class NewClient:
    """One client for `ClientRepository.create_many`, with what `create` takes besides it."""

    client: Client
    burn: tuple[str, int] | None = None
    audit: AuditEvent | None = None
    max_dynamic: int | None = None  # the realm's limit of dynamic clients, checked in the transaction


class StorageUnavailable(Exception):
    """The database cannot be reached; the request may be retried."""


class RealmRepository(Protocol):
    def get(self, name: str) -> Realm | None: ...
    def all(self) -> list[Realm]: ...
    def put(self, realm: Realm) -> None: ...
    def swap(self, realm: Realm, *, expected: ProviderSettings) -> bool:
        """Replace the realm's settings with `realm.settings` only if the stored ones still equal
        `expected` (compare-and-swap); False when the realm is gone or its settings changed meanwhile."""
        ...
    def delete(self, name: str) -> bool:
        """Delete the realm and, in the same transaction, everything scoped to it (clients, users, groups,
        policies, scripts, tokens, one-time ids, signing keys): a realm created again under the name starts
        empty, and no old secret, token or key is valid in it. Its audit events stay (history)."""
        ...


class ClientRepository(Protocol):
    def get(self, realm: str, client_id: str) -> Client | None:
        """The client (through `CachedStorage` possibly from the cache: its registration access token may
        be older than the stored one, which moves no change counter; `current` reads that)."""
        ...
    def current(self, realm: str, client_id: str) -> Client | None:
        """The client as stored now, never from a cache: what a compare-and-swap write starts from, and
        the only read of the registration access token."""
        ...
    def all(self, realm: str, *, kind: str | None = None, dynamic: bool | None = None,
             limit: int = 1000, offset: int = 0) -> list[Client]: ...
    def count(self, realm: str, *, dynamic: bool | None = None, kind: str | None = None) -> int: ...
    def search(self, realm: str, *, kind: str | None = None, dynamic: bool | None = None, text: str | None = None,
               after: str | None = None, limit: int = 50, descending: bool = False) -> list[Client]:
        """One page of clients by client id (keyset: those after `after` in the order asked), optionally
        only those whose id or registered metadata (name, redirect URIs, contacts, ...) contains `text`
        (case-insensitive). Administration only."""
        ...
    def create(self, client: Client, *, burn: tuple[str, int] | None = None, audit: AuditEvent | None = None,
               max_dynamic: int | None = None) -> None:
        """Insert a client; raises Conflict if its id exists. With `burn=(one_time_id, expires_at)`
        the id is burned in the same transaction, and Conflict is raised if it was burned already.
        With `audit`, the event is recorded in the same transaction (one commit instead of two).
        With `max_dynamic`, LimitReached is raised when the realm has that many dynamic clients already
        (counted in the same transaction, under a lock: concurrent creations, in any process, never pass it).
        Unlike every other client write, it leaves the change counter alone."""
        ...
    def create_many(self, new: Sequence[NewClient]) -> list[Conflict | None]:
        """`create` for each item, all in one transaction (one commit), each item all or nothing on its
        own: a Conflict undoes only its item and is returned in its place (None: created). Any other
        error undoes every item and is raised."""
        ...
    def update(self, client: Client, *, expected_registration_token_hash: str | None = None) -> bool:
        """Store `client`'s settings if the stored version is still `client.version` (compare-and-swap);
        the stored version then moves by one. The registration access token is left as stored, unless
        `expected_registration_token_hash` is given (an RFC 7592 update, which rotates it): then the
        stored hash must equal it too, and `client`'s token replaces it. Returns False when the client is
        gone or the swap lost (re-read with `current` and try again, or give up)."""
        ...
    def swap_registration_token(self, client: Client, *, expected_registration_token_hash: str) -> bool:
        """Store only `client`'s registration access token (hash and expiry), if the stored hash is the
        expected one and the stored version still `client.version` (an RFC 7592 read rotating its token:
        it fails on any concurrent change). Nothing cached reads the token, so it moves neither the
        version nor the change counter."""
        ...
    def delete(self, realm: str, client_id: str, *, expected_registration_token_hash: str | None = None,
               expected_version: int | None = None) -> bool:
        """Delete the client (with its policies, consents and resource identifiers); with expectations,
        only if the stored registration token hash and version still match. False: gone or lost."""
        ...
    def touch(self, realm: str, client_id: str, when: int) -> None:
        """Record the last use of a client (best effort)."""
        ...
    def last_used(self, realm: str, client_id: str) -> int | None: ...
    def by_resource(self, realm: str, resource: str) -> Client | None:
        """The client that lists `resource` among its RFC 8707 resource identifiers (exact string match).
        A resource identifier belongs to at most one client of a realm: create and update raise Conflict
        when another client has it already."""
        ...


class UserRepository(Protocol):
    def get(self, realm: str, user_id: str) -> User | None: ...
    def by_username(self, realm: str, username: str) -> User | None: ...
    def all(self, realm: str) -> list[User]: ...
    def search(self, realm: str, *, text: str | None = None, after: str | None = None, limit: int = 50,
               descending: bool = False) -> list[User]:
        """One page of users by username (keyset: those after `after` in the order asked), optionally only
        those whose username, name or email contains `text` (case-insensitive). Administration only."""
        ...
    def count(self, realm: str) -> int: ...
    def put(self, user: User) -> None:
        """Insert or replace; raises Conflict if another user has the username."""
        ...
    def delete(self, realm: str, user_id: str) -> bool: ...


class GroupRepository(Protocol):
    def get(self, realm: str, name: str) -> Group | None: ...
    def all(self, realm: str) -> list[Group]: ...
    def groups_of(self, realm: str, user_id: str) -> list[str]: ...
    def put(self, group: Group) -> None: ...
    def delete(self, realm: str, name: str) -> bool: ...


class PolicyRepository(Protocol):
    def get(self, realm: str, agent_id: str, application_id: str) -> ApplicationPolicy | None: ...
    def for_agent(self, realm: str, agent_id: str) -> list[ApplicationPolicy]: ...
    def put(self, policy: ApplicationPolicy) -> None: ...
    def delete(self, realm: str, agent_id: str, application_id: str) -> bool: ...


class ConsentRepository(Protocol):
    """What users allowed clients (browser sign-in), one record per (realm, user, client)."""

    def get(self, realm: str, user_id: str, client_id: str) -> Consent | None: ...
    def for_user(self, realm: str, user_id: str) -> list[Consent]: ...
    def put(self, consent: Consent) -> None:
        """Insert or replace the record of (realm, user, client)."""
        ...
    def delete(self, realm: str, user_id: str, client_id: str) -> bool: ...


class ScriptRepository(Protocol):
    def get(self, realm: str, script_id: str) -> Script | None: ...
    def all(self, realm: str) -> list[Script]: ...
    def put(self, script: Script) -> None: ...
    def delete(self, realm: str, script_id: str) -> bool: ...


class TokenRepository(Protocol):
    def add(self, record: TokenRecord) -> None: ...
    def add_many(self, records: list[TokenRecord], *, audit: Sequence[AuditEvent] = ()) -> None:
        """The records and the audit events `audit` in one transaction: all or none."""
        ...
    def get(self, token_hash: str) -> TokenRecord | None: ...
    def delete(self, token_hash: str) -> bool:
        """Compare-and-delete (True if this call deleted it); moves the burn counter in the same transaction,
        as `purge_expired` does when it deletes anything: caches of token records follow it."""
        ...
    def purge_expired(self, now: int) -> int: ...
    def of_realm(self, realm: str, now: int, *, sub: str | None = None, client_id: str | None = None,
                 kinds: tuple[str, ...] | None = None, limit: int | None = None) -> list[TokenRecord]:
        """Unexpired records, oldest first (administration): optionally only a subject's or a client's
        (indexed), of some kinds, at most `limit`."""
        ...


class OneTimeIds(Protocol):
    """Identifiers that may be used once, durably (always in the database): revoked token `jti`s, revoked
    refresh families, consumed initial access tokens, lifecycle marks. Kept until they expire. A
    single-use proof whose reuse matters only within its own short validity (a client assertion's or a
    DPoP proof's `jti`) belongs in the replay cache, `EphemeralState.first_use`, instead."""

    def burn(self, realm: str, one_time_id: str, expires_at: int) -> bool:
        """True if this call burned it; False if it was burned already."""
        ...
    def is_burned(self, realm: str, one_time_id: str) -> bool: ...
    def any_burned(self, realm: str, one_time_ids: tuple[str, ...]) -> bool:
        """True if at least one of them is burned (one query for several)."""
        ...
    def purge_expired(self, now: int) -> int: ...


class KeyRepository(Protocol):
    def all(self, realm: str) -> list[SigningKey]: ...
    def add(self, key: SigningKey) -> None: ...
    def put(self, key: SigningKey) -> None: ...
    def delete(self, realm: str, kid: str) -> bool: ...

    def swap_active(self, realm: str, retire: Sequence[str], new: SigningKey, publish_until: int) -> bool:
        """Compare-and-swap of the realm's active keys: when the active keys are exactly `retire`, retire
        them (published until `publish_until`) and add `new`, in one transaction; else change nothing and
        answer False (another process rotated first)."""
        ...

    def data_key(self, name: str) -> SealedDataKey | None: ...

    def add_data_key(self, key: SealedDataKey) -> bool:
        """Insert if absent (compare-and-insert): False when a data key of that name exists already."""
        ...

    def reseal_data_key(self, key: SealedDataKey, expected_master_id: str) -> bool:
        """Replace the sealed form of a data key if it is still sealed by `expected_master_id`."""
        ...


class AuditRepository(Protocol):
    def add(self, event: AuditEvent) -> None: ...
    def add_many(self, events: list[AuditEvent]) -> None: ...  # one transaction: all or none
    def query(self, realm: str | None = None, *, action: str | None = None, actor: str | None = None,
              target: str | None = None, decision: str | None = None, text: str | None = None,
              limit: int = 100, before: int | None = None, since: int | None = None) -> list[AuditEvent]:
        """Newest first; `before` (an event id) pages back (keyset), `since` keeps events at or after a time."""
        ...


class FailureLog(Protocol):
    """Failed authentication attempts, shared by every process (the failure throttles): the failure-counting
    part of `EphemeralState`, which is what the throttles are handed.

    Keys arrive as keyed hashes of (throttle, realm, claimed identity, source address): the backend never
    sees a password, and not the username or address either. Each failure is kept until `expires_at` (the
    end of its counting window) and then removed by `purge_expired`.
    """

    def add(self, key: str, at: int, expires_at: int) -> int:
        """Record one failure; returns its id (ids grow with every failure recorded)."""
        ...
    def recent(self, key: str, since: int, limit: int) -> list[int]:
        """The times of the key's failures after `since`, newest first, at most `limit` of them."""
        ...
    def newer(self, after_id: int, now: int, limit: int) -> list[tuple[int, str, int]]:
        """(id, key, at) of unexpired failures with an id above `after_id`, in id order, at most `limit`."""
        ...
    def purge_expired(self, now: int) -> int:
        """Forget everything expired at `now` (failures, rate-limit hits, replay marks); how many went."""
        ...


class EphemeralState(FailureLog, Protocol):
    """Short-lived state every process shares: failure counts (the throttles), rate-limit hits and a replay
    cache. One interface, three implementations: the database (`storage.ephemeral` of SqlStorage, the
    default), memory (one process: tests) and Redis (`credo.storage.redis_state`), chosen by the server
    setting `CREDO_EPHEMERAL_URL`. Losing it (a Redis restart) forgets recent failures, hits and replay
    marks: throttles and rate limits start afresh, and a value marked by `first_use` that is still valid
    could be used once more. So nothing durable lives here: revocations, consumed initial access tokens,
    codes, refresh-family and lifecycle marks are `OneTimeIds`, always in the database.

    Keys are opaque strings chosen by the caller (keyed hashes where they stem from user input); times are
    the injected clock's seconds. Every method is atomic across all processes sharing the state."""

    def hit(self, key: str, limit: int, window: int, now: int) -> int:
        """A sliding-window rate limit: count one hit of `key` at `now` unless `limit` hits are already
        within the last `window` seconds (a hit at `t` counts while `t > now - window`). 0 when counted;
        otherwise the seconds until the oldest of them leaves the window (at least 1), nothing counted."""
        ...
    async def first_use(self, key: str, expires_at: int, *, now: int) -> bool:
        """The replay cache: True for the first use of `key`, False for any later use until `expires_at`
        (after `now`); then the key is forgotten. For values that are refused anyway once they expire
        (a client assertion's or DPoP proof's `jti`, whose own `exp` bounds `expires_at`): never for
        anything whose reuse must stay refused after a restart (`OneTimeIds.burn`). Awaited: a request
        burns its value without blocking the event loop while the mark travels to the shared state."""
        ...
    def close(self) -> None:
        """Let go of the connections it holds of its own (Redis's; the database's state closes with its
        storage). Called when the server stops, while its event loop still runs."""
        ...


def minute_of(at: int) -> int:
    """The start of the minute holding `at` (seconds): the unit tokens issued are counted in."""
    return at - at % 60


class UsageTally(Protocol):
    """Tokens issued per realm and grant type, counted to the minute, for the console's overview. Counting
    is on the hot path and must cost nothing there: `note` only adds to this process's tally in memory, and
    `flush` stores the tally (the server flushes every few seconds and when it stops; a crash loses at most
    that much of a statistic). Processes sharing a database add up."""

    def note(self, realm: str, grant_type: str, at: int) -> None:
        """One token issued at `at` (seconds)."""
        ...

    def flush(self) -> None:
        """Store this process's tally and clear it (added to what is stored)."""
        ...

    def issued(self, realm: str, since: int) -> dict[str, int]:
        """Tokens issued in `realm` from the minute of `since` on, per grant type; this process's tally
        is stored first, so its own tokens are always counted."""
        ...

    def purge(self, before: int) -> int:
        """Delete the counts of the minutes before `before`; how many rows went."""
        ...


class AdminRepository(Protocol):
    def get(self, username: str) -> AdminUser | None: ...
    def all(self) -> list[AdminUser]: ...
    def put(self, admin: AdminUser) -> None: ...
    def delete(self, username: str) -> bool: ...


class AwaitedWrites(Protocol):
    """The group commit's writes (storage/unit_of_work.py) awaited on the event loop, for a storage whose
    commit is a round trip to a database server: the same rows, transactions and answers as
    `ClientRepository.create_many` and `create` and `TokenRepository.add_many`."""

    async def create_clients(self, new: Sequence[NewClient]) -> list[Conflict | None]: ...

    async def create_client(self, one: NewClient) -> None: ...

    async def add_tokens(self, records: list[TokenRecord], audit: Sequence[AuditEvent]) -> None: ...


class Storage(Protocol):
    realms: RealmRepository
    clients: ClientRepository
    users: UserRepository
    groups: GroupRepository
    policies: PolicyRepository
    scripts: ScriptRepository
    consents: ConsentRepository
    tokens: TokenRepository
    one_time: OneTimeIds
    keys: KeyRepository
    audit: AuditRepository
    admins: AdminRepository
    usage: UsageTally
    ephemeral: EphemeralState  # in the same database; the server may use another (CREDO_EPHEMERAL_URL)
    counter_round_trip: bool  # change_counter() asks a database server (worth sharing among requests)
    awaited_writes: AwaitedWrites | None  # None: a commit is local and quick, made where it is asked

    def change_counter(self) -> int:
        """A number that grows on every client, realm, user, group, policy, script or signing key change, shared by all
        processes using the same database: caches compare it to know when to drop entries. Creating a client
        does not move it (caches never remember an unknown client id, so there is nothing to drop).
        The first of `counters()`."""
        ...

    def counters(self) -> tuple[int, int]:
        """(the change counter, the burn counter) in one read. The burn counter grows on every one-time id
        burned (`OneTimeIds.burn`, a client created with a burn) or purged, and on every token record deleted
        or purged: caches of burned ids and of token records compare it."""
        ...

    async def counters_awaited(self) -> tuple[int, int]:
        """`counters()` without blocking the event loop while the read travels (a storage whose counter is a
        round trip reads it on the loop; the others answer `counters()`)."""
        ...

    def close(self) -> None: ...


__all__: Sequence[str] = (
    "AdminRepository", "AuditRepository", "AwaitedWrites", "ClientRepository", "Conflict", "ConsentRepository", "EphemeralState", "FailureLog", "GroupRepository",
    "KeyRepository", "OneTimeIds", "PolicyRepository", "RealmRepository", "ScriptRepository",
    "Storage", "StorageUnavailable", "TokenRepository", "UserRepository",
)
