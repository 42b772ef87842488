"""Pictures the console draws on the server, as inline SVG (no client-side framework, nothing fetched).

`delegation` draws one token exchange as a chain — user → agent (→ agent ...) → application — with the
scopes asked and granted and, for a denial, its reason. `decisions_chart` draws an agent's allowed and
denied exchanges per day as bars. Every text is escaped; colours come from presentation attributes and the
console's stylesheet classes (the console's CSP allows no inline style).
"""

from __future__ import annotations

import time
from typing import Any

from markupsafe import Markup, escape

from credo.domain.models import AuditEvent
from credo.domain.values import value_object

BOX_W, BOX_H, GAP, PAD = 150, 44, 46, 8
ROLE_LABEL = {"user": "user", "agent": "agent", "application": "application", "client": "client"}


@value_object
class Hop:
    name: str
    role: str  # "user" | "agent" | "application" | "client"


def chain_of(event: AuditEvent, usernames: dict[str, str]) -> list[Hop]:
    """The hops of a token-exchange event in the order the authority travelled: the subject (a user, shown
    by username, or the agent itself when it acts autonomously), then each actor from the first to the one
    that asked (the `act` claim nests the earlier actors inside the current one), then the audience."""
    details: dict[str, Any] = event.details or {}
    subject = str(details.get("subject") or "")
    chain = [str(a) for a in details.get("actor_chain") or []]
    actors = list(reversed(chain)) or [event.actor]
    hops: list[Hop] = []
    if subject and subject not in actors:
        hops.append(Hop(usernames.get(subject, subject), "user" if subject in usernames else "client"))
    for actor in actors:
        if not hops or hops[-1].name != actor:
            hops.append(Hop(actor, "agent"))
    audience = str(details.get("audience") or event.target or "")
    if audience:
        hops.append(Hop(audience, "application"))
    return hops


def _clip(text: str, limit: int = 22) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def delegation(event: AuditEvent, usernames: dict[str, str]) -> Markup:
    hops = chain_of(event, usernames)
    details: dict[str, Any] = event.details or {}
    asked = " ".join(str(s) for s in details.get("scopes_requested") or []) or "—"
    granted = " ".join(str(s) for s in details.get("scopes_granted") or []) or "—"
    denied = event.decision == "deny"
    width = PAD * 2 + len(hops) * BOX_W + max(len(hops) - 1, 0) * GAP
    height = BOX_H + 64
    parts = [f'<svg class="delegation {"deny" if denied else "allow"}" role="img" xmlns="http://www.w3.org/2000/svg" '
             f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
             f"<title>{escape(' → '.join(h.name for h in hops))}: {escape(event.decision)}</title>"]
    for i, hop in enumerate(hops):
        x = PAD + i * (BOX_W + GAP)
        parts.append(f'<g class="hop {hop.role}" data-hop="{i}" data-name="{escape(hop.name)}">'
                     f'<rect x="{x}" y="{PAD}" width="{BOX_W}" height="{BOX_H}" rx="6"/>'
                     f'<text x="{x + BOX_W // 2}" y="{PAD + 18}" text-anchor="middle" class="role">'
                     f"{escape(ROLE_LABEL.get(hop.role, hop.role))}</text>"
                     f'<text x="{x + BOX_W // 2}" y="{PAD + 35}" text-anchor="middle" class="name">'
                     f"<title>{escape(hop.name)}</title>{escape(_clip(hop.name))}</text></g>")
        if i + 1 < len(hops):
            x1, x2, y = x + BOX_W, x + BOX_W + GAP, PAD + BOX_H // 2
            last = i + 2 == len(hops)
            cls = "arrow broken" if denied and last else "arrow"
            parts.append(f'<g class="{cls}"><line x1="{x1 + 2}" y1="{y}" x2="{x2 - 8}" y2="{y}"/>'
                         f'<path d="M{x2 - 9},{y - 5} L{x2 - 1},{y} L{x2 - 9},{y + 5} Z"/>'
                         + (f'<text x="{(x1 + x2) // 2}" y="{y - 8}" text-anchor="middle" class="cross">✕</text>'
                            if denied and last else "") + "</g>")
    line2 = f"asked: {asked}   granted: {granted}"
    parts.append(f'<text x="{PAD}" y="{PAD + BOX_H + 22}" class="scopes">{escape(_clip(line2, 120))}</text>')
    if denied:
        parts.append(f'<text x="{PAD}" y="{PAD + BOX_H + 42}" class="reason">denied: '
                     f"{escape(_clip(event.reason or 'no reason recorded', 120))}</text>")
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text inside went through escape()


def decisions_chart(rows: list[tuple[int, int, int]]) -> Markup:
    """Bars per day: allowed (up) and denied (stacked above) exchange decisions."""
    bar, gap, top, chart_h = 16, 6, 10, 80
    peak = max((a + d for _, a, d in rows), default=0) or 1
    width = len(rows) * (bar + gap) + gap
    height = top + chart_h + 18
    total_allow, total_deny = sum(a for _, a, _ in rows), sum(d for _, _, d in rows)
    parts = [f'<svg class="chart" role="img" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}"><title>{total_allow} allowed, {total_deny} denied over {len(rows)} days'
             "</title>"]
    for i, (day, allowed, denied) in enumerate(rows):
        x = gap + i * (bar + gap)
        ha, hd = round(chart_h * allowed / peak), round(chart_h * denied / peak)
        label = time.strftime("%Y-%m-%d", time.gmtime(day))
        parts.append(f'<g data-day="{label}" data-allow="{allowed}" data-deny="{denied}">'
                     f"<title>{label}: {allowed} allowed, {denied} denied</title>"
                     f'<rect class="allow" x="{x}" y="{top + chart_h - ha}" width="{bar}" height="{ha}"/>'
                     f'<rect class="deny" x="{x}" y="{top + chart_h - ha - hd}" width="{bar}" height="{hd}"/></g>')
    parts.append(f'<line class="axis" x1="0" y1="{top + chart_h}" x2="{width}" y2="{top + chart_h}"/>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text inside went through escape()
