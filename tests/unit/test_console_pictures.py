"""The delegation picture and the decisions chart the console draws on the server."""

from __future__ import annotations

import re

from credo.admin.console.pictures import chain_of, decisions_chart, delegation
from credo.domain.models import AuditEvent


def _exchange(decision: str = "allow", **details: object) -> AuditEvent:
    base = {"subject": "u-1", "actor_chain": ["agent-b", "agent-a"], "audience": "calendar-api",
            "scopes_requested": ["cal.read", "cal.write"], "scopes_granted": ["cal.read"]}
    return AuditEvent(realm="r", action="token_exchange", actor="agent-b", decision=decision,  # type: ignore[arg-type]
                      target="calendar-api", reason="access_denied: no policy" if decision == "deny" else "delegation",
                      details={**base, **details})


def _hops(svg: str) -> list[str]:
    return re.findall(r'<g class="hop [a-z]+" data-hop="\d+" data-name="([^"]*)"', svg)


def test_the_chain_runs_from_the_user_through_each_agent_in_order_to_the_application() -> None:
    svg = str(delegation(_exchange(), {"u-1": "alice"}))
    # act nests the earlier actor inside the current one: agent-a acted first, then agent-b
    assert _hops(svg) == ["alice", "agent-a", "agent-b", "calendar-api"]
    assert re.findall(r'<g class="hop ([a-z]+)"', svg) == ["user", "agent", "agent", "application"]
    assert "asked: cal.read cal.write   granted: cal.read" in svg
    assert 'class="arrow broken"' not in svg and "denied:" not in svg


def test_a_denial_breaks_the_last_arrow_and_says_why() -> None:
    svg = str(delegation(_exchange("deny", actor_chain=[], scopes_granted=[]), {"u-1": "alice"}))
    assert _hops(svg) == ["alice", "agent-b", "calendar-api"]  # no act yet: the caller is the actor
    assert svg.count('class="arrow broken"') == 1 and "denied: access_denied: no policy" in svg
    assert "granted: —" in svg


def test_an_autonomous_agent_is_its_own_subject_and_unknown_subjects_are_shown_as_they_are() -> None:
    autonomous = chain_of(_exchange(subject="agent-b", actor_chain=["agent-b"]), {})
    assert [(h.name, h.role) for h in autonomous] == [("agent-b", "agent"), ("calendar-api", "application")]
    unknown = chain_of(_exchange(subject="deleted-user-id"), {})
    assert (unknown[0].name, unknown[0].role) == ("deleted-user-id", "client")


def test_every_text_is_escaped() -> None:
    svg = str(delegation(_exchange(audience="<script>x</script>", scopes_requested=['"><img>']),
                         {"u-1": "<b>eve</b>"}))
    assert "<script>" not in svg and "<b>" not in svg and "<img>" not in svg
    assert "&lt;b&gt;eve&lt;/b&gt;" in svg


def test_the_chart_has_a_bar_pair_per_day_scaled_to_the_busiest_day() -> None:
    svg = str(decisions_chart([(0, 3, 1), (86400, 0, 0), (172800, 8, 0)]))
    days = re.findall(r'data-day="([^"]+)" data-allow="(\d+)" data-deny="(\d+)"', svg)
    assert days == [("1970-01-01", "3", "1"), ("1970-01-02", "0", "0"), ("1970-01-03", "8", "0")]
    heights = [int(h) for h in re.findall(r'<rect class="allow" x="\d+" y="\d+" width="\d+" height="(\d+)"', svg)]
    assert heights == [30, 0, 80]  # 80 px is the busiest day's total
    assert "11 allowed, 1 denied over 3 days" in svg
