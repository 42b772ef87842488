"""What tests make and check, in one place: realms and their settings, clients, agents and their policies,
users, tokens (over HTTP), signing keys and signed JWTs, and the one check of an OAuth error answer.

Everything here goes through the management use cases or the public HTTP endpoints, as an administrator
or a client would."""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from credo.domain.settings import GRANT_CLIENT_CREDENTIALS, GRANT_PASSWORD, GRANT_REFRESH_TOKEN, GRANT_TOKEN_EXCHANGE
from credo.management.agents import create_agent, put_policy
from credo.management.applications import create_application, validated_update
from credo.management.clients import create_client, set_secret, update_client
from credo.management.demo import ensure_demo
from credo.management.realms import update_settings
from credo.management.users import create_user
from credo.oauth.services import Services

# --- the one check of an OAuth error answer -------------------------------------------------------------


def assert_oauth_error(r: httpx.Response, status: int, error: str, field: str | None = None) -> None:
    """`r` is the refusal `error` with `status`: a JSON body with the error code and a description, never
    cached. `field` (admin API) is the request field the description names first."""
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json"), r.headers
    body = r.json()
    assert body["error"] == error, body
    assert isinstance(body.get("error_description"), str) and body["error_description"], body
    assert r.headers["cache-control"] == "no-store", r.headers
    if field is not None:
        assert body.get("field") == field, body
        assert body["error_description"].startswith(f"{field}:"), body


# --- realms and clients ---------------------------------------------------------------------------------


def demo_secrets(services: Services) -> dict[str, str]:
    """The demo realms and clients (idempotent); returns {client_id: secret} of the demo clients."""
    return {c.client_id: c.client_secret for c in ensure_demo(services)}


def realm_settings(services: Services, realm: str = "alpha", **changes: Any) -> None:
    """Change provider settings of `realm` as an administrator would."""
    update_settings(services, realm, changes)


def iat_client(services: Services, realm: str = "alpha", scopes: tuple[str, ...] = ("dcr_register",)) -> tuple[str, str]:
    """A client that may obtain initial access tokens (client credentials with `dcr_register`)."""
    client_id = f"iat-{uuid.uuid4().hex[:8]}"
    _, secret = create_client(services, realm, client_id, scopes=scopes, auth_method="client_secret_post")
    assert secret is not None
    return client_id, secret


def pin_auth_method(services: Services, realm: str, client_id: str, strict: bool = True) -> None:
    """Pin (or unpin) a client's registered authentication method, as an administrator would."""
    validated_update(services, realm, client_id, {"strict_auth_method": strict}, actor="admin")


# A registration body most dynamic client registration tests start from.
SEED_BODY: dict[str, Any] = {
    "grant_types": ["client_credentials"],
    "response_types": ["token"],
    "redirect_uris": ["https://example.com/callback"],
    "scopes": ["data-read", "data-write"],
    "client_name": "Retail Chatbot",
    "token_endpoint_auth_method": "client_secret_post",
}

# --- agents, applications and users (the two AI-agent seeds) --------------------------------------------

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
                    permissions: tuple[str, ...] = ("read-data",),
                    app_grants: tuple[str, ...] = (GRANT_CLIENT_CREDENTIALS, GRANT_PASSWORD, GRANT_REFRESH_TOKEN),
                    ) -> tuple[Party, Party]:
    """The on-behalf-of seed: a web application with the password grant, a user, an agent, a policy."""
    create_application(services, realm, "digital-assistant-web-app", name="Digital Assistant Web App", app_type="web",
                       secret=APP_SECRET, grant_types=app_grants,
                       scopes=("openid", "read-data", "write-data", "admin-action"), owners=("admin",))
    if services.storage.users.get(realm, USER_ID) is None:
        create_user(services, realm, USERNAME, PASSWORD, user_id=USER_ID)
    create_agent(services, realm, "digital-assistant-ai-agent", name="Digital Assistant AI Agent", secret=AGENT_SECRET,
                 grant_types=(GRANT_TOKEN_EXCHANGE,), overrides_enabled=True, stateless_tokens=stateless,
                 accept_audience=True)
    put_policy(services, realm, "digital-assistant-ai-agent", "digital-assistant-web-app", subjects=subjects,
               subject_groups=groups, permissions=permissions)
    return Party("digital-assistant-ai-agent", AGENT_SECRET), Party("digital-assistant-web-app", APP_SECRET)


# --- tokens, over HTTP ----------------------------------------------------------------------------------


def token(http: httpx.Client, base: str, **data: str) -> httpx.Response:
    return http.post(f"{base}/access_token", data=data)


def password_token(http: httpx.Client, base: str, app: Party, scope: str = "openid",
                   username: str = USERNAME, password: str = PASSWORD) -> httpx.Response:
    return token(http, base, grant_type="password", username=username, password=password, scope=scope, **app.auth)


def refresh(http: httpx.Client, base: str, app: Party, value: str, scope: str | None = None) -> httpx.Response:
    data = {"grant_type": "refresh_token", "refresh_token": value, **app.auth}
    if scope is not None:
        data["scope"] = scope
    return http.post(f"{base}/access_token", data=data)


def user_access_token(server: Any, app: Party, realm: str = "alpha") -> str:
    """An access token of the seed's user, obtained by `app` with the password grant on `server`."""
    with server.client() as http:
        r = password_token(http, server.realm_url(realm), app)
        assert r.status_code == 200, r.text
        return str(r.json()["access_token"])


def cc_token(http: httpx.Client, base: str, agent: Party, scope: str = "monitor-system") -> str:
    r = token(http, base, grant_type="client_credentials", scope=scope, **agent.auth)
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def client_credentials(http: httpx.Client, base: str, client_id: str, secret: str,
                       scope: str = "data-read") -> httpx.Response:
    """The token endpoint's answer to a client credentials request (secret in the body)."""
    return token(http, base, grant_type="client_credentials", client_id=client_id, client_secret=secret, scope=scope)


def register(http: httpx.Client, base: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """Register a client dynamically (open registration; SEED_BODY unless told); returns the 201 body."""
    r = http.post(f"{base}/register", json=SEED_BODY if body is None else body)
    assert r.status_code == 201, r.text
    assert r.headers["cache-control"] == "no-store"
    return dict(r.json())


def access_token(http: httpx.Client, base: str, client_id: str, secret: str, scope: str | None = None) -> str:
    """A client credentials access token of `client_id` (asserted to be granted)."""
    data = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    if scope:
        data["scope"] = scope
    r = http.post(f"{base}/access_token", data=data)
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


# --- keys and signed JWTs -------------------------------------------------------------------------------


class Signer:
    """An EC P-256 key with its public JWK Set, to sign software statements and request bodies."""

    def __init__(self, kid: str | None = None) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.kid = kid or uuid.uuid4().hex[:8]
        jwk = json.loads(ECAlgorithm.to_jwk(self.key.public_key()))
        jwk.update({"kid": self.kid, "alg": "ES256", "use": "sig"})
        self.jwks = {"keys": [jwk]}

    def sign(self, claims: dict[str, Any], headers: dict[str, Any] | None = None) -> str:
        return jwt.encode(claims, self.key, algorithm="ES256", headers={"kid": self.kid, **(headers or {})})


def unsigned(claims: dict[str, Any]) -> str:
    return jwt.encode(claims, None, algorithm="none")  # type: ignore[arg-type]


def now() -> int:
    return int(time.time())


def register_agent(http: httpx.Client, base: str) -> dict[str, Any]:
    """An agent registered dynamically at /aiagent/register (open registration, SEED_BODY): the 201 body."""
    r = http.post(f"{base}/aiagent/register", json=SEED_BODY)
    assert r.status_code == 201, r.text
    return dict(r.json())


@dataclass
class RegistrationHammer:
    """An agent reading (GET) and updating (PUT) its registration (RFC 7592) in turn, each time with the
    registration access token the previous answer handed over, until `stop` is set or it is refused."""

    http: httpx.Client
    registration: dict[str, Any]
    stop: threading.Event = field(default_factory=threading.Event)
    answers: int = 0
    refused: bool = False

    def __post_init__(self) -> None:
        self.token = str(self.registration["registration_access_token"])

    def run(self) -> None:
        uri = self.registration["registration_client_uri"]
        body = {**SEED_BODY, "client_id": self.registration["client_id"]}
        self.refused = False
        while not self.stop.is_set():
            auth = {"Authorization": f"Bearer {self.token}"}
            r = self.http.get(uri, headers=auth) if self.answers % 2 else self.http.put(uri, headers=auth, json=body)
            self.answers += 1
            if r.status_code == 401:
                assert r.json()["error"] == "invalid_token", r.text
                self.refused = True
                return
            assert r.status_code == 200, r.text
            self.token = r.json()["registration_access_token"]

    def wait_for(self, answers: int, timeout: float = 30) -> None:
        """Wait until the agent got `answers` answers in all (or was refused)."""
        deadline = time.monotonic() + timeout
        while self.answers < answers and not self.refused and time.monotonic() < deadline:
            time.sleep(0.0005)


def admin_against_agent(admin: Services, agent: Any, rounds: int) -> None:
    """`rounds` times, while a dynamically registered agent hammers RFC 7592 on the server `agent`, an
    administrator (through the services `admin`) enables it, rotates its secret and disables it; each
    change that answered must stay in effect (the agent's concurrent writes undo none)."""
    base = agent.realm_url()
    with agent.client() as http:
        hammer = RegistrationHammer(http, register_agent(http, base))
        client_id = hammer.registration["client_id"]
        for i in range(rounds):
            update_client(admin, "alpha", client_id, {"enabled": True})
            hammer.stop.clear()
            worker = threading.Thread(target=hammer.run)
            worker.start()
            hammer.wait_for(hammer.answers + 1 + i % 3)
            plain = set_secret(admin, "alpha", client_id)
            hammer.wait_for(hammer.answers + 1)
            assert not hammer.refused, f"round {i}: the enabled agent's registration was refused"
            update_client(admin, "alpha", client_id, {"enabled": False})
            hammer.wait_for(hammer.answers + 2, timeout=2)  # its next request is refused; else let it write
            hammer.stop.set()
            worker.join(30)
            stored = admin.storage.clients.current("alpha", client_id)
            assert stored is not None and stored.enabled is False, f"round {i}: the disable was undone"
            assert admin.hasher.verify(plain, stored.secret_hash), f"round {i}: the new secret was undone"
