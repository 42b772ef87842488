"""The demo set-up: realms `alpha` and `bravo` with example clients, as the seeds expect."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from credo.domain.settings import (
    GRANT_AUTHORIZATION_CODE,
    GRANT_CLIENT_CREDENTIALS,
    GRANT_PASSWORD,
    GRANT_REFRESH_TOKEN,
    GRANT_TOKEN_EXCHANGE,
    ProviderSettings,
)
from credo.domain.values import value_object
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


# The credentials printed last time, by "realm/kind/id" ("alpha/client/demo-client", "alpha/user/barbara.jensen").
# The caller keeps them where only the operator can read them (`credo serve --demo`: a 0600 file in the data
# directory); the server stores only their hashes. Without them every demo secret is new (the tests' way).
Saved = dict[str, str]


@value_object
class DemoCredentials:
    realm: str
    client_id: str
    client_secret: str
    description: str
    kind: str = "client"  # "user": client_id and client_secret are the user's username and password
    state: str = "new"  # "kept": as printed last time; "renewed": reset (the saved one was missing or stale)


DEMO_CLIENTS = (
    ("demo-client", "stateful (opaque) tokens, scopes data-read data-write", False),
    ("bench-client", "stateless ES256 JWT tokens, for the benchmark", True),
)


def client_secret(services: Services, saved: Saved, realm: str, client_id: str,
                  create: Callable[[], str | None]) -> tuple[str, str]:
    """(secret, state) of a demo client: the saved secret while it still works ("kept"); else a new one, set
    on the existing client ("renewed") or on the client `create` makes ("new"), and saved."""
    key = f"{realm}/client/{client_id}"
    client = services.storage.clients.get(realm, client_id)
    old = saved.get(key)
    if client is not None and old and services.hasher.verify(old, client.secret_hash):
        return old, "kept"
    state = "new" if client is None else "renewed"
    secret = str(create()) if client is None else set_secret(services, realm, client_id)
    saved[key] = secret
    return secret, state


def ensure_demo(services: Services, saved: Saved | None = None) -> list[DemoCredentials]:
    """Create the demo realms and clients if missing; each client's secret is the saved one while it still
    works, else a new one (see client_secret). `saved` is updated with what to print next time."""
    saved = {} if saved is None else saved
    ensure_realm(services, "root")
    ensure_realm(services, "alpha", DEMO_SETTINGS)
    ensure_realm(services, "bravo", DEMO_SETTINGS)
    out: list[DemoCredentials] = []
    for client_id, description, stateless in DEMO_CLIENTS:
        make = partial(_create_client, services, client_id, stateless)
        secret, state = client_secret(services, saved, "alpha", client_id, make)
        out.append(DemoCredentials("alpha", client_id, secret, description, state=state))
    return out


def _create_client(services: Services, client_id: str, stateless: bool) -> str | None:
    attributes = {"providerOverridesEnabled": ["true"], "statelessTokensEnabled": ["true"]} if stateless else {}
    return create_client(services, "alpha", client_id, name=client_id, scopes=("data-read", "data-write"),
                         auth_method="client_secret_post", attributes=attributes)[1]
