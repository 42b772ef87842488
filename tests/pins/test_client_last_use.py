"""Issuing a token records the client's last use (`last_used_at`, shown to administrators), at most once a
minute per client and process."""

from __future__ import annotations

from pathlib import Path

import pytest

from credo.domain.clock import FrozenClock
from credo.storage.protocols import Storage
from tests.pins.inprocess import in_process
from tests.support import make_storage


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_token_issue_records_last_use(kind: str, tmp_path: Path) -> None:
    clock = FrozenClock(1_800_000_000)
    storage: Storage
    with make_storage(kind, tmp_path) as storage, in_process(storage, tmp_path, clock=clock) as app:
        secret = app.demo["demo-client"]
        assert storage.clients.last_used("alpha", "demo-client") is None
        assert app.token("demo-client", secret).status_code == 200
        assert storage.clients.last_used("alpha", "demo-client") == clock.now()
        first = clock.now()
        clock.advance(30)  # within the minute: not written again
        assert app.token("demo-client", secret).status_code == 200
        assert storage.clients.last_used("alpha", "demo-client") == first
        clock.advance(31)
        assert app.token("demo-client", secret).status_code == 200
        assert storage.clients.last_used("alpha", "demo-client") == clock.now()
        assert storage.clients.last_used("alpha", "bench-client") is None  # only the client that was used
