"""The demo set-up: realms `alpha` and `bravo` with example clients, as the seeds expect."""

from __future__ import annotations

from dataclasses import dataclass

from credo.domain.settings import (
    GRANT_AUTHORIZATION_CODE,
    GRANT_CLIENT_CREDENTIALS,
    GRANT_PASSWORD,
    GRANT_REFRESH_TOKEN,
    GRANT_TOKEN_EXCHANGE,
    ProviderSettings,
)
from credo.management.clients import create_client, set_secret
from credo.management.realms import ensure_realm
from credo.oauth.services import Services

SEED_SCOPES = ("address", "phone", "openid", "profile", "fr:idm:*", "am-introspect-all-tokens", "email",
               "data-read", "data-write")
DEMO_SETTINGS = ProviderSettings(
    grant_types=(GRANT_CLIENT_CREDENTIALS, GRANT_PASSWORD, GRANT_TOKEN_EXCHANGE, GRANT_REFRESH_TOKEN,
                 GRANT_AUTHORIZATION_CODE),
    registration_scope_allowlist=SEED_SCOPES,
    allow_open_registration=True,
)


@dataclass(frozen=True)
class DemoCredentials:
    realm: str
    client_id: str
    client_secret: str
    description: str
    kind: str = "client"  # "user": client_id and client_secret are the user's username and password


DEMO_CLIENTS = (
    ("demo-client", "stateful (opaque) tokens, scopes data-read data-write", False),
    ("bench-client", "stateless ES256 JWT tokens, for the benchmark", True),
)


def ensure_demo(services: Services) -> list[DemoCredentials]:
    """Create the demo realms and clients if missing; give every demo client a fresh secret to print."""
    ensure_realm(services, "root")
    ensure_realm(services, "alpha", DEMO_SETTINGS)
    ensure_realm(services, "bravo", DEMO_SETTINGS)
    out: list[DemoCredentials] = []
    for client_id, description, stateless in DEMO_CLIENTS:
        attributes = {"providerOverridesEnabled": ["true"], "statelessTokensEnabled": ["true"]} if stateless else {}
        if services.storage.clients.get("alpha", client_id) is None:
            _, secret = create_client(services, "alpha", client_id, name=client_id, scopes=("data-read", "data-write"),
                                      auth_method="client_secret_post", attributes=attributes)
            assert secret is not None
        else:
            secret = set_secret(services, "alpha", client_id)
        out.append(DemoCredentials("alpha", client_id, secret, description))
    return out
