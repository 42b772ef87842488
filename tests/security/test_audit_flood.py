"""Issue finding: outsiders filled the audit log (failed admin sign-ins with rotating usernames wrote a row
each). Refusals of one action are kept up to 60 a minute per process; the rest are counted and reported
as one `<action>.suppressed` event."""

from __future__ import annotations

from credo.domain.clock import FrozenClock
from credo.domain.errors import InvalidGrant
from credo.management.admins import ADMIN_REALM, login
from tests.support import InProcessServer


def _deny_rows(server: InProcessServer) -> int:
    events = server.services.storage.audit.query(ADMIN_REALM, action="admin.login", decision="deny", limit=1000)
    return len(events)


def test_failed_admin_sign_ins_with_rotating_usernames_are_bounded(frozen: tuple[InProcessServer, FrozenClock]) -> None:
    server, clock = frozen
    for i in range(100):
        try:
            login(server.services, f"nobody-{i}", "wrong-password", source=f"198.51.100.{i % 250}")
        except InvalidGrant:
            pass
    assert _deny_rows(server) == 60
    clock.advance(60)
    try:
        login(server.services, "nobody-again", "wrong-password", source="198.51.100.7")
    except InvalidGrant:
        pass
    assert _deny_rows(server) == 61
    summary = server.services.storage.audit.query(ADMIN_REALM, action="admin.login.suppressed", limit=10)
    assert len(summary) == 1 and summary[0].details["suppressed"] == 40
