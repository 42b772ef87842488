"""The group commit's writes on PostgreSQL, awaited on the event loop (`Storage.awaited_writes`): the same
statements as the repositories' `create`, `create_many` and `add_many` (clients.py, tokens.py), sent on
the loop's asynchronous connections (fast_pg.py) instead of a thread's."""

from __future__ import annotations

from collections.abc import Sequence

from credo.domain.models import AuditEvent, TokenRecord
from credo.storage.protocols import Conflict, NewClient
from credo.storage.sql.clients import _conflict, _create_statements
from credo.storage.sql.fast_pg import PgFastPath
from credo.storage.sql.statements import Duplicate
from credo.storage.sql.tokens import token_statements


class SqlAwaitedWrites:
    def __init__(self, fast: PgFastPath) -> None:
        self._fast = fast

    async def create_clients(self, new: Sequence[NewClient]) -> list[Conflict | None]:
        if not new:
            return []
        failed = await self._fast.transaction_each_awaited([_create_statements(item) for item in new])
        return [None if exc is None else _conflict(exc) for exc in failed]

    async def create_client(self, one: NewClient) -> None:
        try:
            await self._fast.transaction_awaited(_create_statements(one))
        except Duplicate as exc:
            raise _conflict(exc) from exc

    async def add_tokens(self, records: list[TokenRecord], audit: Sequence[AuditEvent]) -> None:
        statements = token_statements(records, audit)
        if not statements:
            return
        try:
            await self._fast.transaction_awaited(statements)
        except Duplicate as exc:
            raise Conflict("token exists") from exc
