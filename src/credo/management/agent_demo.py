"""The AI-agent part of the demo: the applications, user and agents of the two agent seeds, so that
their `curl` commands work against `credo serve --demo` with only the host replaced."""

from __future__ import annotations

from functools import partial

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
from credo.management.demo import DemoCredentials, Saved, client_secret
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


def _user_password(services: Services, saved: Saved) -> tuple[str, str]:
    """(password, state) of the demo user, as client_secret does for a client (an inactive user is renewed)."""
    key = f"{REALM}/user/{DEMO_USER}"
    user = services.storage.users.by_username(REALM, DEMO_USER)
    old = saved.get(key)
    if user is not None and user.active and old and services.hasher.verify(old, user.password_hash):
        return old, "kept"
    password = new_secret(12)
    if user is None:
        create_user(services, REALM, DEMO_USER, password)
    else:
        update_user(services, REALM, user.id, password=password, active=True)
    saved[key] = password
    return password, "new" if user is None else "renewed"


def _application(services: Services, client_id: str, name: str, app_type: str, grants: tuple[str, ...],
                 scopes: tuple[str, ...]) -> str | None:
    return create_application(services, REALM, client_id, name=name, app_type=app_type, grant_types=grants,
                              scopes=scopes, owners=("admin",),
                              redirect_uris=(WEB_APP_REDIRECT,) if app_type == "web" else ())[1]


def _agent(services: Services, client_id: str, name: str, scopes: tuple[str, ...], grants: tuple[str, ...]) -> str | None:
    return create_agent(services, REALM, client_id, name=name, scopes=scopes, grant_types=grants,
                        overrides_enabled=True, stateless_tokens=True, accept_audience=True)[1]


def ensure_agent_demo(services: Services, saved: Saved | None = None) -> list[DemoCredentials]:
    """Create the seeds' applications, user and agents in realm alpha if missing (an agent's policy too);
    their secrets and the user's password as demo.client_secret decides, `saved` updated."""
    saved = {} if saved is None else saved
    out: list[DemoCredentials] = []
    for client_id, name, app_type, grants, scopes in APPLICATIONS:
        make = partial(_application, services, client_id, name, app_type, grants, scopes)
        secret, state = client_secret(services, saved, REALM, client_id, make)
        out.append(DemoCredentials(REALM, client_id, secret, f"application ({app_type}), scopes {' '.join(scopes)}",
                                   state=state))
    password, state = _user_password(services, saved)
    out.append(DemoCredentials(REALM, DEMO_USER, password, "end user, for the password grant", kind="user", state=state))
    for client_id, name, scopes, grants, app, on_behalf, permissions in AGENTS:
        secret, state = client_secret(services, saved, REALM, client_id,
                                      partial(_agent, services, client_id, name, scopes, grants))
        if services.storage.policies.get(REALM, client_id, app) is None:
            put_policy(services, REALM, client_id, app, subjects=(DEMO_USER,) if on_behalf else (),
                       permissions=permissions)
        flow = "on behalf of barbara.jensen" if on_behalf else "autonomous"
        out.append(DemoCredentials(REALM, client_id, secret, f"AI agent, {flow}, reaches {app}", state=state))
    return out
