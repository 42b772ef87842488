"""The administrator set-ups of the two AI-agent seeds, made through the management use cases."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from credo.domain.settings import GRANT_CLIENT_CREDENTIALS, GRANT_PASSWORD, GRANT_REFRESH_TOKEN, GRANT_TOKEN_EXCHANGE
from credo.management.agents import create_agent, put_policy
from credo.management.applications import create_application
from credo.management.users import create_user
from credo.oauth.services import Services

ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
USER_ID = "2199ef22-7927-4ecf-8345-ee58df8f6328"
USERNAME = "barbara.jensen"
PASSWORD = "barbara-password-1"
APP_SECRET = "application-secret-0123456789"
AGENT_SECRET = "agent-secret-0123456789abcdef"
OBO_AGENT, OBO_APP = "digital-assistant-ai-agent", "digital-assistant-web-app"  # the seed's on-behalf-of pair
AUTO_AGENT, AUTO_APP = "bot-traffic-analyzer", "access-log-api"  # the seed's autonomous pair


@dataclass(frozen=True)
class Party:
    client_id: str
    secret: str

    @property
    def auth(self) -> dict[str, str]:
        return {"client_id": self.client_id, "client_secret": self.secret}


def autonomous_setup(services: Services, realm: str = "alpha", *, stateless: bool = True,
                     permissions: tuple[str, ...] = ("logs-read", "logs-search")) -> tuple[Party, Party]:
    """The autonomous seed: a service application and an agent with a policy (no subjects)."""
    create_application(services, realm, "access-log-api", name="Web Server Logs API App", app_type="service",
                       secret=APP_SECRET, scopes=("logs-read", "logs-search"), owners=("admin",))
    create_agent(services, realm, "bot-traffic-analyzer", name="Bot Traffic Analyzer Agent", secret=AGENT_SECRET,
                 scopes=("monitor-system",), grant_types=(GRANT_TOKEN_EXCHANGE, GRANT_CLIENT_CREDENTIALS),
                 overrides_enabled=True, stateless_tokens=stateless, accept_audience=True)
    put_policy(services, realm, "bot-traffic-analyzer", "access-log-api", permissions=permissions)
    return Party("bot-traffic-analyzer", AGENT_SECRET), Party("access-log-api", APP_SECRET)


def on_behalf_setup(services: Services, realm: str = "alpha", *, stateless: bool = True,
                    subjects: tuple[str, ...] = (USERNAME,), groups: tuple[str, ...] = (),
                    permissions: tuple[str, ...] = ("read-data",)) -> tuple[Party, Party]:
    """The on-behalf-of seed: a web application with the password grant, a user, an agent, a policy."""
    create_application(services, realm, "digital-assistant-web-app", name="Digital Assistant Web App", app_type="web",
                       secret=APP_SECRET, grant_types=(GRANT_CLIENT_CREDENTIALS, GRANT_PASSWORD, GRANT_REFRESH_TOKEN),
                       scopes=("openid", "read-data", "write-data", "admin-action"), owners=("admin",))
    if services.storage.users.get(realm, USER_ID) is None:
        create_user(services, realm, USERNAME, PASSWORD, user_id=USER_ID)
    create_agent(services, realm, "digital-assistant-ai-agent", name="Digital Assistant AI Agent", secret=AGENT_SECRET,
                 grant_types=(GRANT_TOKEN_EXCHANGE,), overrides_enabled=True, stateless_tokens=stateless,
                 accept_audience=True)
    put_policy(services, realm, "digital-assistant-ai-agent", "digital-assistant-web-app", subjects=subjects,
               subject_groups=groups, permissions=permissions)
    return Party("digital-assistant-ai-agent", AGENT_SECRET), Party("digital-assistant-web-app", APP_SECRET)


def token(http: httpx.Client, base: str, **data: str) -> httpx.Response:
    return http.post(f"{base}/access_token", data=data)


def password_token(http: httpx.Client, base: str, app: Party, scope: str = "openid",
                   username: str = USERNAME, password: str = PASSWORD) -> httpx.Response:
    return token(http, base, grant_type="password", username=username, password=password, scope=scope, **app.auth)


def cc_token(http: httpx.Client, base: str, agent: Party, scope: str = "monitor-system") -> str:
    r = token(http, base, grant_type="client_credentials", scope=scope, **agent.auth)
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def exchange(http: httpx.Client, base: str, agent: Party, subject_token: str, audience: str | None,
             scope: str | None = None, **extra: str) -> httpx.Response:
    data = {"grant_type": GRANT_TOKEN_EXCHANGE, "subject_token": subject_token,
            "subject_token_type": ACCESS_TOKEN_TYPE, **agent.auth, **extra}
    if audience is not None:
        data["audience"] = audience
    if scope is not None:
        data["scope"] = scope
    return http.post(f"{base}/access_token", data=data)


def assert_error(r: httpx.Response, status: int, error: str) -> None:
    assert r.status_code == status, r.text
    assert r.json()["error"] == error, r.text
    assert r.headers["cache-control"] == "no-store"
