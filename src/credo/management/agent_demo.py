"""The AI-agent part of the demo: the applications, user and agents of the two agent seeds, so that
their `curl` commands work against `credo serve --demo` with only the host replaced."""

from __future__ import annotations

from credo.domain.settings import (
    GRANT_AUTHORIZATION_CODE,
    GRANT_CLIENT_CREDENTIALS,
    GRANT_PASSWORD,
    GRANT_REFRESH_TOKEN,
    GRANT_TOKEN_EXCHANGE,
)
from credo.keys.secrets import new_secret
from credo.management.agents import create_agent, put_policy
from credo.management.applications import create_application
from credo.management.clients import set_secret
from credo.management.demo import DemoCredentials
from credo.management.users import create_user, update_user
from credo.oauth.services import Services

REALM = "alpha"
DEMO_USER = "barbara.jensen"
APPLICATIONS: tuple[tuple[str, str, str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("access-log-api", "Web Server Logs API App", "service", (GRANT_CLIENT_CREDENTIALS,), ("logs-read", "logs-search")),
    ("digital-assistant-web-app", "Digital Assistant Web App", "web",
     (GRANT_CLIENT_CREDENTIALS, GRANT_PASSWORD, GRANT_REFRESH_TOKEN, GRANT_AUTHORIZATION_CODE),
     ("openid", "read-data", "write-data", "admin-action")),
)
# The web application signs its users in through the browser too (the recommended on-behalf-of flow): any
# port on the loopback callback (RFC 8252), so a local script or `python -m http.server` can receive the code.
WEB_APP_REDIRECT = "http://127.0.0.1/callback"
AGENTS: tuple[tuple[str, str, tuple[str, ...], tuple[str, ...], str, bool, tuple[str, ...]], ...] = (
    ("bot-traffic-analyzer", "Bot Traffic Analyzer Agent", ("monitor-system",),
     (GRANT_TOKEN_EXCHANGE, GRANT_CLIENT_CREDENTIALS), "access-log-api", False, ("logs-read", "logs-search")),
    ("digital-assistant-ai-agent", "Digital Assistant AI Agent", (), (GRANT_TOKEN_EXCHANGE,),
     "digital-assistant-web-app", True, ("read-data",)),
)


def _existing(services: Services, client_id: str) -> str | None:
    """A fresh secret for a demo client that exists already (None if it does not exist yet)."""
    if services.storage.clients.get(REALM, client_id) is None:
        return None
    return set_secret(services, REALM, client_id)


def _user_password(services: Services) -> str:
    password = new_secret(12)
    user = services.storage.users.by_username(REALM, DEMO_USER)
    if user is None:
        create_user(services, REALM, DEMO_USER, password)
    else:
        update_user(services, REALM, user.id, password=password, active=True)
    return password


def ensure_agent_demo(services: Services) -> list[DemoCredentials]:
    """Create (or refresh the secrets of) the seeds' applications, user and agents in realm alpha."""
    out: list[DemoCredentials] = []
    for client_id, name, app_type, grants, scopes in APPLICATIONS:
        secret = _existing(services, client_id) or create_application(
            services, REALM, client_id, name=name, app_type=app_type, grant_types=grants, scopes=scopes,
            owners=("admin",), redirect_uris=(WEB_APP_REDIRECT,) if app_type == "web" else ())[1]
        out.append(DemoCredentials(REALM, client_id, str(secret), f"application ({app_type}), scopes {' '.join(scopes)}"))
    password = _user_password(services)
    out.append(DemoCredentials(REALM, DEMO_USER, password, "end user, for the password grant", kind="user"))
    for client_id, name, scopes, grants, app, on_behalf, permissions in AGENTS:
        secret = _existing(services, client_id) or create_agent(
            services, REALM, client_id, name=name, scopes=scopes, grant_types=grants, overrides_enabled=True,
            stateless_tokens=True, accept_audience=True)[1]
        put_policy(services, REALM, client_id, app, subjects=(DEMO_USER,) if on_behalf else (), permissions=permissions)
        flow = "on behalf of barbara.jensen" if on_behalf else "autonomous"
        out.append(DemoCredentials(REALM, client_id, str(secret), f"AI agent, {flow}, reaches {app}"))
    return out
