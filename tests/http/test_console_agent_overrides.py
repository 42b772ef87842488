"""The console's AI agent page on provider overrides: the boxes show what is stored, turning an override on
without "Enable OAuth2 Provider Overrides" is refused at its box, and the page warns of overrides that do
nothing and of application policies the agent cannot use (in process, as a browser submits the form)."""

from __future__ import annotations

import html
from collections.abc import Iterator
from typing import Any

import pytest

from tests.factories import AUTO_AGENT, AUTO_APP, autonomous_setup
from tests.http.admin_support import console_session, form_fields, submit
from tests.support import Server

PAGE = f"/admin/r/alpha/agents/{AUTO_AGENT}"
OVERRIDES_OFF = ("Accept audience parameters in token exchange requests (acceptAudienceParametersInTokenExchangeRequests)"
                 " is set but does nothing: Enable OAuth2 Provider Overrides (providerOverridesEnabled) is off.")
POLICY_UNUSABLE = (f"The policy for {AUTO_APP} cannot be used: the agent does not accept audience parameters in token "
                   "exchange requests: Accept audience parameters in token exchange requests "
                   "(acceptAudienceParametersInTokenExchangeRequests) is on, but Enable OAuth2 Provider Overrides "
                   "(providerOverridesEnabled) is off (and the application has no resource identifier to name it "
                   "by instead).")


@pytest.fixture
def console(sqlite_server: Server, sqlite_demo: dict[str, str]) -> Iterator[Any]:
    autonomous_setup(sqlite_server.services)  # overrides on, client-side tokens, audience parameters accepted
    http, _ = console_session(sqlite_server)
    yield http
    http.close()


def _warnings(http: Any, tab: str = "access") -> list[str]:
    page = http.get(f"{PAGE}?tab={tab}").text
    if 'id="agent-warnings"' not in page:
        return []
    block = page.split('id="agent-warnings">', 1)[1].split("</div>", 1)[0]
    return [html.unescape(p.split("</p>", 1)[0]) for p in block.split("<p>")[1:]]


def test_switching_overrides_off_keeps_the_flags_and_warns(console: Any, sqlite_server: Server) -> None:
    assert _warnings(console) == []
    r = submit(console, PAGE, "access-form", overrides_enabled=[], stateless_tokens=[])
    assert r.status_code == 303, r.text
    agent = sqlite_server.services.client("alpha", AUTO_AGENT)
    assert agent is not None and not agent.overrides_enabled and not agent.accepts_audience
    # The box shows the stored flag (unchecked, saving would clear it), and both tabs say why it does nothing.
    shown = form_fields(console.get(PAGE).text, "access-form")
    assert "accept_audience" in shown and "overrides_enabled" not in shown and "stateless_tokens" not in shown
    assert _warnings(console) == _warnings(console, "applications") == [OVERRIDES_OFF, POLICY_UNUSABLE]
    saved = submit(console, PAGE, "access-form")  # saved without edits: accepted, the overrides unchanged
    assert saved.status_code == 303, saved.text
    after = sqlite_server.services.client("alpha", AUTO_AGENT)
    assert after is not None and after.attributes == agent.attributes
    assert submit(console, PAGE, "access-form", overrides_enabled="on").status_code == 303
    assert _warnings(console) == []


def test_turning_an_override_on_without_the_switch_is_refused_at_its_box(console: Any, sqlite_server: Server) -> None:
    submit(console, PAGE, "access-form", overrides_enabled=[], stateless_tokens=[], accept_audience=[])
    before = sqlite_server.services.client("alpha", AUTO_AGENT)
    r = submit(console, PAGE, "access-form", stateless_tokens="on")
    assert r.status_code == 400
    error = r.text.split('id="err-stateless_tokens">', 1)[1].split("</div>", 1)[0]
    assert html.unescape(error) == ("Use Client-Side Access & Refresh Tokens (statelessTokensEnabled) needs "
                                    "overrides_enabled (Enable OAuth2 Provider Overrides (providerOverridesEnabled)); "
                                    "turn that on too, or this does nothing.")
    assert form_fields(r.text, "access-form")["stateless_tokens"] == ["on"]  # what was typed, shown again
    assert sqlite_server.services.client("alpha", AUTO_AGENT) == before  # refused: nothing written
    assert _warnings(console, "applications") == [
        f"The policy for {AUTO_APP} cannot be used: the agent does not accept audience parameters in token exchange "
        "requests: it needs Enable OAuth2 Provider Overrides (providerOverridesEnabled) and Accept audience "
        "parameters in token exchange requests (acceptAudienceParametersInTokenExchangeRequests) (and the "
        "application has no resource identifier to name it by instead)."]
