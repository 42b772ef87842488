"""`credo serve --demo` also sets up both agent seeds; their requests work with the printed credentials.
The demo's flows take the credentials to use, so tests/flows/test_examples_together.py runs them too."""

from __future__ import annotations

from credo.management.agent_demo import DEMO_USER, ensure_agent_demo
from tests.factories import Party, exchange, password_token
from tests.signin import authorize, location_params, pkce, redeem, sign_in, through_pages
from tests.support import Server


def demo_seeds_flow(server: Server, creds: dict[str, str]) -> None:
    """The autonomous seed (the bot's own token exchanged for the logs API) and the on-behalf-of seed with the
    password grant (a refresh token too), with the demo's credentials `creds`."""
    base = server.realm_url("alpha")
    bot = Party("bot-traffic-analyzer", creds["bot-traffic-analyzer"])
    assistant = Party("digital-assistant-ai-agent", creds["digital-assistant-ai-agent"])
    web = Party("digital-assistant-web-app", creds["digital-assistant-web-app"])
    with server.client() as http:
        own = http.post(f"{base}/access_token", data={"grant_type": "client_credentials", "scope": "monitor-system",
                                                      **bot.auth}).json()["access_token"]
        r = exchange(http, base, bot, own, "access-log-api", "logs-read logs-search")
        assert r.status_code == 200 and r.json()["scope"] == "logs-read logs-search", r.text
        user = password_token(http, base, web, "openid", username=DEMO_USER, password=creds[DEMO_USER])
        assert user.status_code == 200 and user.json()["refresh_token"], user.text
        r = exchange(http, base, assistant, user.json()["access_token"], "digital-assistant-web-app", "read-data")
        assert r.status_code == 200 and r.json()["scope"] == "read-data", r.text


def demo_browser_flow(server: Server, creds: dict[str, str]) -> None:
    """The recommended on-behalf-of flow: the web application signs the demo user in through the pages (code
    + PKCE, on any loopback port), and the agent exchanges the user's token."""
    base = server.realm_url("alpha")
    web = "digital-assistant-web-app"
    callback = "http://127.0.0.1:8765/callback"
    assistant = Party("digital-assistant-ai-agent", creds["digital-assistant-ai-agent"])
    with server.client() as http:
        challenge = pkce()
        page = authorize(http, base, web, challenge=challenge, scope="openid read-data", redirect_uri=callback)
        code = location_params(through_pages(http, sign_in(http, page, DEMO_USER, creds[DEMO_USER])))["code"]
        user = redeem(http, base, code, challenge, client_id=web, redirect_uri=callback, client_secret=creds[web])
        assert user.status_code == 200 and user.json()["id_token"], user.text
        r = exchange(http, base, assistant, user.json()["access_token"], web, "read-data")
        assert r.status_code == 200 and r.json()["scope"] == "read-data", r.text


def test_agent_demo_runs_both_seeds(sqlite_server: Server, sqlite_demo: dict[str, str]) -> None:
    ensure_agent_demo(sqlite_server.services)
    creds = {c.client_id: c.client_secret for c in ensure_agent_demo(sqlite_server.services)}  # idempotent
    demo_seeds_flow(sqlite_server, creds)


def test_agent_demo_on_behalf_of_through_the_browser_sign_in(sqlite_server: Server, sqlite_demo: dict[str, str]) -> None:
    demo_browser_flow(sqlite_server, {c.client_id: c.client_secret for c in ensure_agent_demo(sqlite_server.services)})
