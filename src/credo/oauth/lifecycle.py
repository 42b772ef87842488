"""Deletion is permanent: what was issued for a client or user stays dead whatever is created later under
the same identifier.

Every token, refresh token and authorization code is bound to the creation of the records it was issued
for: it is honoured only if it was issued at or after the record's `created_at` (`born_before`). Times are
whole seconds, so a record re-created in the very second its namesake was deleted could otherwise match
the old one's last tokens: a deletion leaves a mark for that second (`note_deletion`), and a record created
with the same identifier while the mark stands is dated one second later (`creation_time`). Its own tokens
issued in that remaining fraction of a second are refused too: when in doubt, refuse.
"""

from __future__ import annotations

from typing import Literal

from credo.domain.models import Client, Realm, TokenRecord
from credo.oauth.services import Services

DELETED_PREFIX = "deleted:"
RecordKind = Literal["client", "user"]


def _mark(kind: RecordKind, record_id: str, second: int) -> str:
    return f"{DELETED_PREFIX}{kind}:{second}:{record_id}"


def note_deletion(services: Services, realm: str, kind: RecordKind, record_id: str) -> None:
    """Remember, for the second it happened in, that the record `record_id` of this kind was deleted."""
    now = services.clock.now()
    services.storage.one_time.burn(realm, _mark(kind, record_id, now), now + 1)


def creation_time(services: Services, realm: str, kind: RecordKind, record_id: str) -> int:
    """The `created_at` of a new record: now, or the next second if its namesake was deleted this second
    (the deleted record's tokens issued this second must not be taken for the new record's)."""
    now = services.clock.now()
    return now + 1 if services.storage.one_time.is_burned(realm, _mark(kind, record_id, now)) else now


def born_before(created_at: int, issued_at: int) -> bool:
    """The record existed when the token was issued (and is not a later namesake of the one it was for)."""
    return created_at <= issued_at


def record_current(services: Services, realm: Realm, client: Client, record: TokenRecord, *, user: bool) -> bool:
    """A stored refresh token or code still belongs to this client and (for a user's) an existing, active
    user: both created no later than it was issued."""
    if not born_before(client.created_at, record.issued_at):
        return False
    if not user:
        return True
    account = services.user(realm.name, record.sub)
    return account is not None and account.active and born_before(account.created_at, record.issued_at)
