"""Races on SQLite and PostgreSQL: one initial access token registers exactly one client, and one
registration access token wins exactly one of two concurrent updates."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import httpx

from tests.factories import SEED_BODY, access_token, iat_client, realm_settings
from tests.support import Server


def _race(server: Server, n: int, call: Callable[[httpx.Client, int], httpx.Response]) -> list[httpx.Response]:
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def run(i: int) -> None:
        with server.client() as http:  # a client each, all at once: the server handles them concurrently
            barrier.wait()
            results[i] = call(http, i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_one_initial_access_token_one_client(server: Server, demo: dict[str, str]) -> None:
    base = server.realm_url()
    realm_settings(server.services, allow_open_registration=False)
    cid, secret = iat_client(server.services)
    with server.client() as http:
        token = access_token(http, base, cid, secret)
    answers = _race(server, 20, lambda h, _: h.post(f"{base}/register", json=SEED_BODY,
                                         headers={"Authorization": f"Bearer {token}"}))
    codes = sorted(r.status_code for r in answers)
    assert codes == [201] + [401] * 19, codes
    assert all(r.json()["error"] == "invalid_token" for r in answers if r.status_code == 401)
    assert server.services.storage.clients.count("alpha", dynamic=True) == 1


def test_two_puts_one_token(server: Server, demo: dict[str, str]) -> None:
    base = server.realm_url()
    with server.client() as http:
        reg = http.post(f"{base}/register", json=SEED_BODY).json()
    auth = {"Authorization": f"Bearer {reg['registration_access_token']}"}
    bodies = [{**SEED_BODY, "client_id": reg["client_id"], "client_name": f"name-{i}"} for i in range(2)]
    answers = _race(server, 2, lambda h, i: h.put(reg["registration_client_uri"], headers=auth,
                                       json=bodies[i]))
    codes = sorted(r.status_code for r in answers)
    assert codes == [200, 401], [r.text for r in answers]
    winner = next(r for r in answers if r.status_code == 200).json()
    stored = server.services.storage.clients.get("alpha", reg["client_id"])
    assert stored is not None and stored.name == winner["client_name"]
    with server.client() as http:
        assert http.get(reg["registration_client_uri"], headers={
            "Authorization": f"Bearer {winner['registration_access_token']}"}).status_code == 200
