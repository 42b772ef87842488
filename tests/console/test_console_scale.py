"""The console at realm scale, in a real Chromium: a realm of 100,000 users and 20,000 dynamic clients is
searched, sorted and paged on the server; the overview counts it; the audit log draws each exchange as its
delegation chain and pages through everything.

Page-load times (navigation start to the load event, as the browser measures them) are written to
test-artifacts/console/scale-timings.json; they are reported, not asserted (speed is measured by
benchmarks, not by timed tests).
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from sqlalchemy import insert

from credo.domain.models import AuditEvent, Client
from credo.management.realms import ensure_realm
from credo.storage.sql import tables as t
from credo.storage.sql.clients import _client_values
from tests.console.conftest import ARTIFACTS, Console

pytestmark = pytest.mark.browser

REALM = "big"
USERS = 100_000
DYNAMIC = 20_000  # bench/console_scale.py measures the same pages with 1,000,000


def _seed(console: Console) -> None:
    services = console.server.services
    ensure_realm(services, REALM)
    engine = services.storage.inner.engine
    users = [{"realm": REALM, "id": f"u-{i:06d}", "username": f"user{i:06d}", "password_hash": "x", "active": True,
              "created_at": 1_700_000_000, "name": f"Person {i}", "email": f"user{i:06d}@example.com"}
             for i in range(USERS)]
    users[4242].update(username="zelda", name="Zelda Fitzgerald", email="zelda@jazz.example")
    template = Client(realm=REALM, client_id="x", secret_hash=None, kind="client", name="x", dynamic=True,
                      created_at=1_700_000_000, updated_at=1_700_000_000, redirect_uris=("https://app.example/cb",))
    row = _client_values(template)
    clients = [{**row, "client_id": f"dyn-{i:06d}", "data": row["data"].replace('"name":"x"', f'"name":"Robot {i}"')}
               for i in range(DYNAMIC)]
    with engine.begin() as conn:
        conn.execute(insert(t.users), users)
        conn.execute(insert(t.clients), clients)
    now = int(time.time())
    services.storage.audit.add_many(
        [AuditEvent(realm=REALM, action="client.update", actor="console-admin", target=f"dyn-{i:06d}", ts=now - 120)
           for i in range(120)]
        + [AuditEvent(realm=REALM, action="token_exchange", actor="scheduler-agent", decision="allow", target="calendar-api",
                    reason="delegation", ts=now - 60, details={
                        "subject": "u-004242", "actor_chain": ["scheduler-agent", "planner-agent"],
                        "audience": "calendar-api", "scopes_requested": ["calendar.read"],
                        "scopes_granted": ["calendar.read"]})]
        + [AuditEvent(realm=REALM, action="token_exchange", actor="rogue-agent", decision="deny", target="payroll-api",
                      reason="access_denied: no application policy", ts=now - 30, details={
                          "subject": "u-000007", "actor_chain": [], "audience": "payroll-api",
                          "scopes_requested": ["payroll.write"], "scopes_granted": []})])


def _load(c: Console, path: str, timings: dict[str, float], name: str) -> None:
    c.go(path)
    ms = c.page.evaluate("() => { const n = performance.getEntriesByType('navigation')[0];"
                         " return n.loadEventEnd - n.startTime; }")
    timings[name] = round(float(ms), 1)


def _column(c: Console, table: str, index: int = 0) -> list[str]:
    return [str(cell.inner_text()).strip() for cell in
            c.page.query_selector_all(f"#{table} tbody tr td:nth-child({index + 1})")]


def test_search_sort_and_page_a_realm_of_100000_users(console: Console) -> None:
    c = console
    _seed(c)
    timings: dict[str, Any] = {}

    _load(c, f"/admin/r/{REALM}/users", timings, "users: first page")
    assert c.page.inner_text("#list-count") == "100,000 users"
    assert _column(c, "users")[:2] == ["user000000", "user000001"] and len(_column(c, "users")) == 50
    c.follow("#next-page")
    assert _column(c, "users")[0] == "user000050"
    c.follow("#next-page")
    assert _column(c, "users")[0] == "user000100"
    c.follow("#first-page")
    assert _column(c, "users")[0] == "user000000"
    c.page.select_option("#order", "desc")
    c.follow("#search-form button[type=submit]")
    assert _column(c, "users")[0] == "zelda" and _column(c, "users")[1] == "user099999"
    c.page.fill("#q", "FITZGERALD")
    c.follow("#search-form button[type=submit]")
    assert _column(c, "users") == ["zelda"]
    _load(c, f"/admin/r/{REALM}/users?q=user0999", timings, "users: search")
    assert _column(c, "users")[0] == "user099900" and len(_column(c, "users")) == 50
    c.follow("#next-page")
    assert _column(c, "users") == [f"user0999{i:02d}" for i in range(50, 100)]
    assert c.page.query_selector("#next-page") is None  # the last page

    _load(c, f"/admin/r/{REALM}/users/u-004242", timings, "user detail")
    assert c.page.inner_text("h1") == "zelda"
    assert "No grants." in c.page.inner_text("#grants")

    _load(c, f"/admin/r/{REALM}/dynamic", timings, "dynamic clients: first page")
    assert c.page.inner_text("#list-count") == "20,000 dynamic clients"
    assert _column(c, "list")[0] == "dyn-000000"
    c.page.fill("#q", "robot 17777")
    c.follow("#search-form button[type=submit]")
    assert _column(c, "list") == ["dyn-017777"]
    c.follow("text=dyn-017777")
    assert c.page.inner_text("h1") == "Robot 17777"
    assert "https://app.example/cb" in c.page.inner_text("#metadata")
    _load(c, f"/admin/r/{REALM}/dynamic?q=robot%2019999", timings, "dynamic clients: search")

    _load(c, f"/admin/r/{REALM}/overview", timings, "overview")
    assert c.page.inner_text("#count-users") == "100,000" and c.page.inner_text("#count-dynamic") == "20,000"
    assert c.page.inner_text("#exchanges tr[data-period=hour] td.allow") == "1"
    assert c.page.inner_text("#exchanges tr[data-period=day] td.deny") == "1"
    assert "rogue-agent" in c.page.inner_text("#recent-denials")
    c.shot("30-overview")

    _load(c, f"/admin/r/{REALM}/audit", timings, "audit log")
    hops = c.page.eval_on_selector_all("#audit svg.delegation", "svgs => svgs.map(s => Array.from("
                                       "s.querySelectorAll('g.hop')).map(g => g.dataset.name))")
    # newest first: the denial (user → agent ✕ application), then the delegation through two agents
    assert hops == [["user000007", "rogue-agent", "payroll-api"],
                    ["zelda", "planner-agent", "scheduler-agent", "calendar-api"]]
    assert "no application policy" in (c.page.text_content("#audit svg.delegation.deny") or "")
    assert "zelda" in c.page.inner_text("#audit") and "u-004242" not in c.page.inner_text("#audit")
    c.shot("31-audit-delegation")
    assert len(c.page.query_selector_all("#audit tbody tr")) == 50
    c.follow("#next-page")
    c.follow("#next-page")
    total = len(c.server.services.storage.audit.query(REALM, limit=1000))  # ours and the realm's creation
    assert 100 < total <= 150 and len(c.page.query_selector_all("#audit tbody tr")) == total - 100
    assert c.page.query_selector("#next-page") is None

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "scale-timings.json").write_text(json.dumps(timings, indent=2))
    print("console page loads (ms):", timings)
