"""The registration policy's `max_clients` holds under concurrency: bursts of registrations sent at once
through two servers on one database (SQLite, PostgreSQL) never store more dynamic clients than the limit,
although every request of a burst passes the early count before any of them is stored (the count is taken
again in the creation's transaction, under a lock)."""

from __future__ import annotations

import asyncio

from credo.management.demo import ensure_demo
from credo.management.realms import patch_settings
from tests.support import Server, run_async

BODY = {"grant_types": ["client_credentials"], "scope": "data-read", "token_endpoint_auth_method": "client_secret_post",
        "client_name": "Burst Client"}
BURSTS, PER_SERVER, ROOM = 5, 6, 3


async def _burst(servers: tuple[Server, ...]) -> list[int]:
    async def each(server: Server) -> list[int]:
        async with server.async_client() as http:
            replies = await asyncio.gather(*(http.post(f"{server.realm_url('alpha')}/register", json=BODY)
                                             for _ in range(PER_SERVER)))
        return [r.status_code for r in replies]

    return [code for codes in await asyncio.gather(*(each(s) for s in servers)) for code in codes]


def test_bursts_never_pass_max_clients(twins: tuple[Server, Server]) -> None:
    a, _ = twins
    ensure_demo(a.services)
    patch_settings(a.services, "alpha", {"protection": {"policy": {"rate_limit_per_minute": None}}})
    for burst in range(BURSTS):
        limit = a.services.storage.clients.count("alpha", dynamic=True) + ROOM
        patch_settings(a.services, "alpha", {"protection": {"policy": {"max_clients": limit}}})
        codes = run_async(_burst(twins))
        assert sorted(codes) == [201] * ROOM + [400] * (len(codes) - ROOM), (burst, codes)
        assert a.services.storage.clients.count("alpha", dynamic=True) == limit, burst
