"""Administration at realm scale: lists read one page at a time, a user's grants, a realm's overview.

Every list is searched, sorted and paged by the storage (keyset on the record's key: a page costs the same
on the thousandth page as on the first), so the console and the admin API stay fast with 100,000 users or
1,000,000 dynamically registered clients. Nothing here reads a whole realm.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any, Generic, TypeVar

from credo.domain.errors import NotFound
from credo.domain.models import AuditEvent, Client, Consent, TokenRecord, User
from credo.domain.values import value_object
from credo.oauth.authorization import revoke_consent
from credo.oauth.revocation import revoke_record
from credo.oauth.services import Services

T = TypeVar("T")

PAGE_SIZE = 50
PAGE_SIZE_MAX = 1000
EXCHANGE = "token_exchange"


@value_object
class PageRequest:
    """What a list asks for: a search text, a cursor (the key of the last row seen), the order, the size."""
    text: str | None = None
    after: str | None = None
    descending: bool = False
    size: int = PAGE_SIZE

    def __post_init__(self) -> None:
        object.__setattr__(self, "size", max(1, min(int(self.size), PAGE_SIZE_MAX)))
        object.__setattr__(self, "text", (self.text or "").strip() or None)
        object.__setattr__(self, "after", self.after or None)


@value_object
class PageOf(Generic[T]):
    items: list[T]
    next_after: str | None  # the cursor of the next page; None on the last page
    total: int | None  # the number of records in the list (None when searching: not counted)


def _paged(rows: list[T], ask: PageRequest, key: Any, total: int | None) -> PageOf[T]:
    more = len(rows) > ask.size
    items = rows[:ask.size]
    return PageOf(items, key(items[-1]) if more and items else None, total)


def users_page(services: Services, realm: str, ask: PageRequest) -> PageOf[User]:
    services.realm(realm)
    users = services.storage.users
    rows = users.search(realm, text=ask.text, after=ask.after, limit=ask.size + 1, descending=ask.descending)
    return _paged(rows, ask, lambda u: u.username, None if ask.text else users.count(realm))


def clients_page(services: Services, realm: str, ask: PageRequest, *, kind: str | None = None,
                 dynamic: bool | None = None) -> PageOf[Client]:
    services.realm(realm)
    clients = services.storage.clients
    rows = clients.search(realm, kind=kind, dynamic=dynamic, text=ask.text, after=ask.after, limit=ask.size + 1,
                          descending=ask.descending)
    return _paged(rows, ask, lambda c: c.client_id, None if ask.text else clients.count(realm, kind=kind, dynamic=dynamic))


AUDIT_FILTERS = ("action", "actor", "target", "decision", "text")


def audit_page(services: Services, realm: str, filters: Mapping[str, str | None] | None = None, *,
               before: int | None = None, size: int = PAGE_SIZE) -> tuple[list[AuditEvent], int | None]:
    """One page of the realm's audit events, newest first, and the cursor (an event id) of the next page;
    `filters` holds any of AUDIT_FILTERS (equality; `text` is a substring of actor, target, reason or details)."""
    services.realm(realm)
    size = max(1, min(size, PAGE_SIZE_MAX))
    f = filters or {}
    rows = services.storage.audit.query(realm, limit=size + 1, before=before, action=f.get("action"),
                                        actor=f.get("actor"), target=f.get("target"), decision=f.get("decision"),
                                        text=f.get("text"))
    events = rows[:size]
    return events, (events[-1].id if len(rows) > size and events else None)


def usernames(services: Services, realm: str, ids: set[str]) -> dict[str, str]:
    """Usernames for the user ids among `ids` (anything else, e.g. a client id, is left out)."""
    found: dict[str, str] = {}
    for user_id in ids:
        user = services.storage.users.get(realm, user_id) if user_id else None
        if user is not None:
            found[user_id] = user.username
    return found


def user_grants(services: Services, realm: str, user_id: str) -> list[Consent]:
    """What the user allowed applications and agents (each consent stands for its tokens)."""
    services.realm(realm)
    return services.storage.consents.for_user(realm, user_id)


def revoke_user_grant(services: Services, realm: str, user_id: str, client_id: str, *, actor: str) -> None:
    """End a user's consent to a client and every token issued under it (as the user's My account does)."""
    if not revoke_consent(services, services.realm(realm), user_id, client_id):
        raise NotFound(f"grant {user_id}/{client_id}",
                       description=f"The user has no grant for client '{client_id}'.")
    services.audit(AuditEvent(realm=realm, action="grant.revoke", actor=actor, target=client_id,
                              details={"user": user_id}))


HELD_KINDS = ("access_token", "refresh_token")
HELD_MAX = 200


def tokens_held(services: Services, realm: str, *, sub: str | None = None,
                client_id: str | None = None) -> list[TokenRecord]:
    """The live stored tokens of a user (`sub`) or a client: opaque access tokens and refresh tokens, oldest
    first, at most HELD_MAX. Signed (JWT) access tokens are not stored: they end with their grant, their
    refresh family or their client."""
    services.realm(realm)
    return services.storage.tokens.of_realm(realm, services.clock.now(), sub=sub, client_id=client_id,
                                            kinds=HELD_KINDS, limit=HELD_MAX)


def revoke_held_token(services: Services, realm: str, jti: str, *, actor: str, sub: str | None = None,
                      client_id: str | None = None) -> TokenRecord:
    """Revoke one of a user's or a client's stored tokens (by its `jti`), audited."""
    record = next((r for r in tokens_held(services, realm, sub=sub, client_id=client_id) if r.jti == jti), None)
    if record is None:
        raise NotFound(f"token {jti}", description=f"No live token '{jti}' here.")
    revoke_record(services, services.realm(realm), record)
    services.audit(AuditEvent(realm=realm, action="token.revoke", actor=actor, target=record.client_id,
                              details={"jti": record.jti, "kind": record.kind, "sub": record.sub}))
    return record


@value_object
class Overview:
    users: int
    applications: int
    agents: int
    dynamic_clients: int
    exchanges: dict[str, dict[str, int]]  # "hour" | "day" -> {"allow": n, "deny": n}
    tokens: dict[str, dict[str, int]]  # "hour" | "day" -> {grant type: access tokens issued} (to the minute)
    active_agents: list[tuple[str, int]]  # the agents with the most exchange decisions over the last day
    recent_denials: list[AuditEvent]
    counted_up_to: int  # exchange decisions read per period at most (the figure says "at least" past it)


OVERVIEW_EVENTS_MAX = 20_000


def overview(services: Services, realm: str) -> Overview:
    """The realm at a glance: how many of each record, the access tokens issued and the exchange decisions
    of the last hour and day, the most active agents and the newest denials (audit events, read newest
    first up to a bound). Tokens are counted per minute (`Storage.usage`): the last hour is the minutes
    from the one an hour ago on; other processes' tokens are seen once they store their tally."""
    services.realm(realm)
    storage, now = services.storage, services.clock.now()
    day = storage.audit.query(realm, action=EXCHANGE, since=now - 86_400, limit=OVERVIEW_EVENTS_MAX)
    periods: dict[str, dict[str, int]] = {"hour": {"allow": 0, "deny": 0}, "day": {"allow": 0, "deny": 0}}
    agents: Counter[str] = Counter()
    for event in day:
        if event.decision in ("allow", "deny"):
            periods["day"][event.decision] += 1
            if event.ts >= now - 3600:
                periods["hour"][event.decision] += 1
        agents[event.actor] += 1
    return Overview(
        users=storage.users.count(realm), applications=storage.clients.count(realm, kind="application"),
        agents=storage.clients.count(realm, kind="agent"), dynamic_clients=storage.clients.count(realm, dynamic=True),
        exchanges=periods, tokens={"hour": storage.usage.issued(realm, now - 3600),
                                   "day": storage.usage.issued(realm, now - 86_400)},
        active_agents=agents.most_common(5),
        recent_denials=storage.audit.query(realm, decision="deny", limit=10), counted_up_to=OVERVIEW_EVENTS_MAX)


def decisions_by_day(services: Services, realm: str, agent_id: str, *, days: int = 14) -> list[tuple[int, int, int]]:
    """(day start, allowed, denied) of an agent's exchange decisions for each of the last `days` days."""
    now = services.clock.now()
    start = (now // 86_400 - days + 1) * 86_400
    buckets = {start + i * 86_400: [0, 0] for i in range(days)}
    for event in services.storage.audit.query(realm, action=EXCHANGE, actor=agent_id, since=start,
                                              limit=OVERVIEW_EVENTS_MAX):
        bucket = buckets.get(event.ts // 86_400 * 86_400)
        if bucket is not None and event.decision in ("allow", "deny"):
            bucket[0 if event.decision == "allow" else 1] += 1
    return [(day, allowed, denied) for day, (allowed, denied) in buckets.items()]
