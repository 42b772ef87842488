"""Each shipped example, imported into a real server, makes its guide's HTTP flow work. The flows take the
secrets to use (the example's own unless an entry existed before the import: an import keeps an existing
user's password and client's secret), so tests/flows/test_examples_together.py runs them too."""

from __future__ import annotations

from pathlib import Path

import yaml

from credo.management.export import import_document
from tests.support import Server

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TX = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS = "urn:ietf:params:oauth:token-type:access_token"
# The secrets and password the examples set when they create their entries.
EXAMPLE_SECRETS = {"bot-traffic-analyzer-agent": "demo-bot-analyzer-secret-change-me",
                   "digital-assistant-web-app": "demo-web-app-secret-change-me",
                   "digital-assistant-ai-agent": "demo-assistant-agent-secret-change-me",
                   "barbara.jensen": "Demo-Passw0rd-Barbara"}


def import_example(server: Server, name: str) -> dict[str, int]:
    return import_document(server.services, yaml.safe_load((EXAMPLES / name).read_text()))


def dcr_onboarding_flow(server: Server, secrets: dict[str, str]) -> None:
    base = server.realm_url("alpha")
    with server.client() as http:
        assert "data-write" in http.get(f"{base}/.well-known/openid-configuration").json()["scopes_supported"]
        reg = http.post(f"{base}/register", json={"client_name": "Retail Chatbot", "scopes": ["data-read"],
                                                  "grant_types": ["client_credentials"],
                                                  "token_endpoint_auth_method": "client_secret_post"})
        assert reg.status_code == 201, reg.text
        tok = http.post(f"{base}/access_token", data={"grant_type": "client_credentials", "scope": "data-read",
                                                      "client_id": reg.json()["client_id"],
                                                      "client_secret": reg.json()["client_secret"]})
        assert tok.status_code == 200 and tok.json()["scope"] == "data-read", tok.text


def ai_agent_dcr_onboarding_flow(server: Server, secrets: dict[str, str]) -> None:
    base = server.realm_url("alpha")
    with server.client() as http:
        reg = http.post(f"{base}/aiagent/register", json={"client_name": "Workforce Assistant",
                                                          "scopes": ["data-read"], "grant_types": ["client_credentials"],
                                                          "token_endpoint_auth_method": "client_secret_post"})
        assert reg.status_code == 201, reg.text
        creds = reg.json()
        tok = http.post(f"{base}/access_token", data={"grant_type": "client_credentials", "scope": "data-read",
                                                      "client_id": creds["client_id"],
                                                      "client_secret": creds["client_secret"]})
        info = http.get(f"{base}/tokeninfo", params={"access_token": tok.json()["access_token"]}).json()
        assert info["cts"] == "OAUTH2_STATELESS_GRANT"
    client = server.services.storage.clients.get("alpha", creds["client_id"])
    assert client is not None and client.accepts_audience and client.is_agent


def autonomous_agent_flow(server: Server, secrets: dict[str, str]) -> None:
    base = server.realm_url("alpha")
    agent = {"client_id": "bot-traffic-analyzer-agent", "client_secret": secrets["bot-traffic-analyzer-agent"]}
    with server.client() as http:
        own = http.post(f"{base}/access_token", data={"grant_type": "client_credentials", "scope": "monitor-system",
                                                      **agent})
        assert own.status_code == 200, own.text
        x = http.post(f"{base}/access_token", data={"grant_type": TX, "subject_token": own.json()["access_token"],
                                                    "subject_token_type": ACCESS, "audience": "web-server-logs-api-app",
                                                    "scope": "logs-read logs-search", **agent})
        assert x.status_code == 200, x.text
        info = http.get(f"{base}/tokeninfo", params={"access_token": x.json()["access_token"]}).json()
        assert info["act"] == {"sub": agent["client_id"]} and info["sub"] == agent["client_id"]


def on_behalf_of_flow(server: Server, secrets: dict[str, str]) -> None:
    base = server.realm_url("alpha")
    app = {"client_id": "digital-assistant-web-app", "client_secret": secrets["digital-assistant-web-app"]}
    agent = {"client_id": "digital-assistant-ai-agent", "client_secret": secrets["digital-assistant-ai-agent"]}
    with server.client() as http:
        user = http.post(f"{base}/access_token", data={"grant_type": "password", "username": "barbara.jensen",
                                                       "password": secrets["barbara.jensen"], "scope": "openid", **app})
        assert user.status_code == 200, user.text
        x = http.post(f"{base}/access_token", data={"grant_type": TX, "subject_token": user.json()["access_token"],
                                                    "subject_token_type": ACCESS, "audience": app["client_id"],
                                                    "scope": "read-data", **agent})
        assert x.status_code == 200, x.text
        info = http.post(f"{base}/introspect", data={"token": x.json()["access_token"], **agent}).json()
    barbara = server.services.storage.users.by_username("alpha", "barbara.jensen")
    assert barbara is not None and info["sub"] == barbara.id
    assert info["act"] == {"sub": agent["client_id"]} and info["scope"] == "read-data"


# Each example and the flow of its guide.
FLOWS = {"dcr-onboarding.yaml": dcr_onboarding_flow, "ai-agent-dcr-onboarding.yaml": ai_agent_dcr_onboarding_flow,
         "autonomous-agent.yaml": autonomous_agent_flow, "on-behalf-of.yaml": on_behalf_of_flow}


def test_dcr_onboarding_example(sqlite_server: Server) -> None:
    import_example(sqlite_server, "dcr-onboarding.yaml")
    dcr_onboarding_flow(sqlite_server, EXAMPLE_SECRETS)


def test_ai_agent_dcr_onboarding_example(sqlite_server: Server) -> None:
    import_example(sqlite_server, "ai-agent-dcr-onboarding.yaml")
    ai_agent_dcr_onboarding_flow(sqlite_server, EXAMPLE_SECRETS)


def test_autonomous_agent_example(sqlite_server: Server) -> None:
    import_example(sqlite_server, "autonomous-agent.yaml")
    autonomous_agent_flow(sqlite_server, EXAMPLE_SECRETS)


def test_on_behalf_of_example(sqlite_server: Server) -> None:
    import_example(sqlite_server, "on-behalf-of.yaml")
    on_behalf_of_flow(sqlite_server, EXAMPLE_SECRETS)
