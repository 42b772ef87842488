"""Issue finding: a registration whose metadata could not be stored (JSON nested ~300 deep inside `jwks`)
answered 500 and failed the registrations committed with it. Such metadata is now 400
invalid_client_metadata before any batching, on SQLite and PostgreSQL, and good registrations sent at the
same time are created."""

from __future__ import annotations

import asyncio
import json

from tests.factories import SEED_BODY
from tests.support import Server, run_async

POISON = {**SEED_BODY, "jwks": {"keys": [{"kty": "EC", "crv": "P-256", "x": "a", "y": "b",
                                          "ext": json.loads("[" * 300 + "]" * 300)}]}}


def test_deep_jwks_is_refused_alone(server: Server, demo: dict[str, str]) -> None:
    url = f"{server.realm_url()}/register"

    async def burst() -> list[int]:
        async with server.async_client() as http:
            answers = await asyncio.gather(*(http.post(url, json=POISON if i == 3 else SEED_BODY) for i in range(8)))
        return [r.status_code for r in answers]

    statuses = run_async(burst())
    assert statuses[3] == 400 and [s for i, s in enumerate(statuses) if i != 3] == [201] * 7, statuses
