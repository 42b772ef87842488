"""The AI-agent DCR seed over real HTTP: the realm's DCR script (the seed's, unchanged) runs on
/aiagent/register, and the new agent's tokens are stateless; on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from pathlib import Path

from credo.management.scripts import create_script, select_realm_script
from credo.oauth.services import Services
from tests.factories import SEED_BODY
from tests.support import Server

SEED_SCRIPT = (Path(__file__).resolve().parents[1] / "fixtures" / "seed_dcr_script.js").read_text()


def install_script(services: Services, source: str, realm: str = "alpha") -> str:
    """Create the script and make it the realm's DCR script, as an administrator would."""
    script = create_script(services, realm, name="AI Agent Dynamic Client Registration Script", source=source,
                           description="Script to configure AI agent access settings during dynamic client registration")
    select_realm_script(services, realm, script.id)
    return script.id


def test_seed_ai_agent_registration(server: Server, demo: dict[str, str]) -> None:
    base = server.realm_url("alpha")
    install_script(server.services, SEED_SCRIPT)
    with server.client() as http:
        conf = http.get(f"{base}/.well-known/openid-configuration").json()
        assert conf["ai_agent_registration_endpoint"] == f"{base}/aiagent/register"
        r = http.post(f"{base}/aiagent/register", json=SEED_BODY)
        assert r.status_code == 201, r.text
        reg = r.json()
        assert reg["providerOverridesEnabled"] is True
        assert reg["statelessTokensEnabled"] is True
        assert reg["acceptAudienceParametersInTokenExchangeRequests"] is True
        assert reg["scopes"] == ["data-read", "data-write"] and reg["grant_types"] == ["client_credentials"]
        assert reg["response_types"] == ["token"] and reg["redirect_uris"] == ["https://example.com/callback"]
        cid, secret = reg["client_id"], reg["client_secret"]

        agent = server.services.storage.clients.get("alpha", cid)
        assert agent is not None and agent.kind == "agent" and agent.dynamic
        assert agent.attributes["AgentType"] == ["dynamic"]
        assert uuid.UUID(agent.attributes["aiAgentIdentityUid"][0])
        assert agent.stateless_tokens is True and agent.accepts_audience
        agents = server.services.storage.clients.all("alpha", kind="agent")
        assert cid in [a.client_id for a in agents]

        tok = http.post(f"{base}/access_token", data={"grant_type": "client_credentials", "client_id": cid,
                                                      "client_secret": secret, "scope": "data-read"})
        assert tok.status_code == 200, tok.text
        assert tok.json()["scope"] == "data-read" and 3590 <= tok.json()["expires_in"] <= 3600
        token = tok.json()["access_token"]
        assert token.count(".") == 2
        info = http.get(f"{base}/tokeninfo", params={"access_token": token}).json()
        assert info["cts"] == "OAUTH2_STATELESS_GRANT"
        assert info["sub"] == info["subname"] == info["client_id"] == info["aud"] == cid
        assert info["scope"] == ["data-read"] and info["data-read"] == ""
        assert info["grant_type"] == "client_credentials" and info["iss"] == base

        # The same script leaves a plain /register client alone: its tokens follow the realm (stateful).
        plain = http.post(f"{base}/register", json=SEED_BODY).json()
        assert "providerOverridesEnabled" not in plain
        ptok = http.post(f"{base}/access_token", data={"grant_type": "client_credentials",
                                                       "client_id": plain["client_id"],
                                                       "client_secret": plain["client_secret"]}).json()
        pinfo = http.get(f"{base}/tokeninfo", params={"access_token": ptok["access_token"]}).json()
        assert pinfo["cts"] == "OAUTH2_STATEFUL_GRANT"

        # Reading the agent back keeps the script's settings.
        got = http.get(reg["registration_client_uri"],
                       headers={"Authorization": f"Bearer {reg['registration_access_token']}"}).json()
        assert got["providerOverridesEnabled"] is True and got["client_id"] == cid
