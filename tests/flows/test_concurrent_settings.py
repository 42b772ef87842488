"""Concurrent settings changes through the admin API of two servers on one database: both patches of a
pair apply (compare-and-swap on the realm row, the merge retried on the settings now stored), and a
patch with a stale If-Match is refused with 412."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.factories import assert_oauth_error
from tests.http.admin_support import Admin
from tests.support import Server

ROUNDS = 20


def _patch_together(admins: tuple[Admin, Admin], patches: tuple[dict[str, int], dict[str, int]]) -> list[httpx.Response]:
    start = threading.Barrier(2)

    def send(i: int) -> httpx.Response:
        start.wait()
        return admins[i]("PATCH", "/realms/root/settings", patches[i])

    with ThreadPoolExecutor(2) as pool:
        return list(pool.map(send, (0, 1)))


def test_concurrent_patches_of_different_members_both_apply(twins: tuple[Server, Server]) -> None:
    a, b = twins
    admins = (Admin(a), Admin(b))
    try:
        for i in range(ROUNDS):
            patches = ({"access_token_lifetime": 600 + i}, {"refresh_token_lifetime": 7200 + i})
            assert [r.status_code for r in _patch_together(admins, patches)] == [200, 200]
            stored = a.services.storage.inner.realms.get("root").settings  # type: ignore[attr-defined]
            assert (stored.access_token_lifetime, stored.refresh_token_lifetime) == (600 + i, 7200 + i), i
    finally:
        for admin in admins:
            admin.close()


def test_stale_if_match_is_refused(twins: tuple[Server, Server]) -> None:
    a, b = twins
    admins = (Admin(a), Admin(b))
    try:
        read = admins[0]("GET", "/realms/root/settings")
        etag = read.headers["etag"]
        r = admins[1]("PATCH", "/realms/root/settings", {"session_lifetime": 7200}, headers={"if-match": etag})
        assert r.status_code == 200 and r.headers["etag"] != etag  # the tag read: current, applied
        stale = admins[0]("PATCH", "/realms/root/settings", {"session_lifetime": 600}, headers={"if-match": etag})
        assert_oauth_error(stale, 412, "precondition_failed")
        now = admins[0]("GET", "/realms/root/settings")
        assert now.json()["session_lifetime"] == 7200 and now.headers["etag"] == r.headers["etag"]
        fresh = admins[0]("PATCH", "/realms/root/settings", {"session_lifetime": 600},
                          headers={"if-match": now.headers["etag"]})
        assert fresh.status_code == 200 and fresh.json()["session_lifetime"] == 600
    finally:
        for admin in admins:
            admin.close()
