"""Scheduled signing-key rotation (CREDO_KEY_ROTATION_DAYS), with a frozen clock: nothing happens before a
realm's active key is due; then a new key signs at once, the old one stays published (and verifies its
tokens) until the last token it signed has expired plus the skew, and is purged after. Several processes
running the schedule at once rotate each realm once."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from credo.app import start_maintenance
from credo.domain.clock import FrozenClock
from credo.management.demo import ensure_demo
from credo.management.keys import PUBLISH_SKEW, longest_token_lifetime, publication, rotate_due_keys
from credo.oauth.services import Services
from credo.storage.memory import MemoryStorage
from credo.storage.sql.engine import make_engine
from credo.storage.sql.migrate import upgrade
from credo.storage.sql.store import SqlStorage
from tests.support import services_for

DAY = 86400
START = 1_800_000_000
ISSUER = "http://credo.test/am/oauth2/realms/root/realms/alpha"


def _kids(services: Services, realm: str = "alpha") -> tuple[list[str], list[str]]:
    keys = services.storage.keys.all(realm)
    return [k.kid for k in keys if k.active], [k.kid for k in keys if not k.active]


def _published(services: Services) -> set[str]:
    return {k["kid"] for k in services.keys.jwks("alpha")["keys"]}


def _sign(services: Services, clock: FrozenClock, lifetime: int) -> str:
    now = clock.now()
    return services.keys.sign_now("alpha", {"iss": ISSUER, "iat": now, "exp": now + lifetime, "jti": str(now)})


def test_rotation_on_schedule(tmp_path: Path) -> None:
    clock = FrozenClock(START)
    services = services_for(MemoryStorage(), tmp_path, clock=clock)
    ensure_demo(services)
    (first,), _ = _kids(services)
    assert rotate_due_keys(services, 30) == []
    clock.advance(30 * DAY - 1)
    assert rotate_due_keys(services, 30) == []  # one second early
    lifetime = longest_token_lifetime(services, "alpha")
    old_token = _sign(services, clock, lifetime)  # the longest-lived token the old key can sign
    clock.advance(1)
    rotated = rotate_due_keys(services, 30)
    assert sorted(r["realm"] for r in rotated) == ["alpha", "bravo", "root"]
    assert rotate_due_keys(services, 30) == []  # done: the new keys are not due
    (second,), (retired,) = _kids(services)
    assert retired == first and second != first
    old = next(k for k in services.storage.keys.all("alpha") if k.kid == first)
    assert old.publish_until == clock.now() + lifetime + PUBLISH_SKEW == clock.now() + publication(services, "alpha")
    assert services.keys.sign_now("alpha", {"iss": ISSUER, "iat": 1, "exp": 2, "jti": "x"})  # signs with the new key
    assert services.keys.signing_alg("alpha") == "ES256"
    assert _published(services) == {first, second}
    audit = services.storage.audit.query("alpha", action="key.rotate")
    assert [(e.actor, e.target) for e in audit] == [("schedule", second)]

    clock.advance(lifetime - 2)  # the old key's last token is still valid: the key verifies and is published
    assert services.keys.verify("alpha", old_token, issuer=ISSUER)["iss"] == ISSUER
    rotate_due_keys(services, 30)
    assert _published(services) == {first, second}
    clock.advance(PUBLISH_SKEW + 1)  # every token it signed has expired; the skew is not over yet
    rotate_due_keys(services, 30)
    assert _published(services) == {first, second}
    clock.advance(1)  # its publication has ended: the schedule purges it
    assert rotate_due_keys(services, 30) == []
    assert _kids(services) == ([second], [])
    assert _published(services) == {second}


def test_off_when_zero(tmp_path: Path) -> None:
    clock = FrozenClock(START)
    services = services_for(MemoryStorage(), tmp_path, clock=clock)
    ensure_demo(services)
    clock.advance(10_000 * DAY)
    assert rotate_due_keys(services, 0) == []
    assert len(_kids(services)[0]) == 1 and _kids(services)[1] == []
    stop = start_maintenance(services, 0, interval=0.01)
    time.sleep(0.1)
    stop.stop()
    assert _kids(services)[1] == []


def test_the_schedule_runs_in_the_server_process(tmp_path: Path) -> None:
    """start_maintenance (what create_app starts in each server process) rotates at once, then keeps looking."""
    clock = FrozenClock(START)
    services = services_for(MemoryStorage(), tmp_path, clock=clock)
    ensure_demo(services)
    clock.advance(90 * DAY)
    stop = start_maintenance(services, 90, interval=0.02)
    try:
        _wait(lambda: len(_kids(services)[1]) == 1)
        clock.advance(90 * DAY)  # due again: the next round rotates again
        _wait(lambda: len(_kids(services)[1]) >= 1 and _kids(services)[0] != [] and
              services.storage.audit.query("alpha", action="key.rotate").__len__() == 2)
    finally:
        stop.stop()


def _wait(done: object, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not done():  # type: ignore[operator]
        assert time.monotonic() < deadline, "the schedule did not rotate"
        time.sleep(0.01)


@pytest.mark.parametrize("processes", [4])
def test_several_processes_rotate_once(tmp_path: Path, processes: int) -> None:
    """Processes sharing a SQLite file, each with its own storage and key ring, all find the key due at
    the same instant: each realm is rotated exactly once."""
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    clock = FrozenClock(START)
    stores = [SqlStorage(make_engine(url)) for _ in range(processes)]
    try:
        nodes = [services_for(store, tmp_path, clock=clock) for store in stores]
        ensure_demo(nodes[0])
        clock.advance(90 * DAY)
        barrier = threading.Barrier(processes)
        results: list[list[dict[str, object]]] = []

        def run(node: Services) -> None:
            barrier.wait()
            results.append(rotate_due_keys(node, 90))

        threads = [threading.Thread(target=run, args=(node,)) for node in nodes]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(str(r["realm"]) for batch in results for r in batch) == ["alpha", "bravo", "root"]
        for realm in ("alpha", "bravo", "root"):
            active, retired = _kids(nodes[0], realm)
            assert len(active) == 1 and len(retired) == 1
        assert all(rotate_due_keys(node, 90) == [] for node in nodes)
    finally:
        for store in stores:
            store.close()
