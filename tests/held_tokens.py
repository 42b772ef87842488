"""Tokens and secrets a test holds across a change of keys or database (a master-key rewrap, a backup and
restore): issue them once on one server, then check on another that they are exactly as good."""

from __future__ import annotations

from dataclasses import dataclass

import jwt

from credo.management.demo import ensure_demo
from tests.support import InProcessServer

ALPHA = "/am/oauth2/realms/root/realms/alpha"


@dataclass(frozen=True)
class Held:
    secrets: dict[str, str]  # demo client id -> its secret
    opaque: str  # an opaque (stateful) access token of demo-client
    jwt: str  # an ES256 JWT access token of bench-client
    kids: frozenset[str]  # the published signing keys


def _token(server: InProcessServer, client_id: str, secret: str) -> str:
    with server.client() as http:
        r = http.post(f"{ALPHA}/access_token", data={"grant_type": "client_credentials", "client_id": client_id,
                                                    "client_secret": secret})
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def issue(server: InProcessServer, known: dict[str, str] | None = None) -> Held:
    """Create the demo realms and clients on `server` (or, given their `known` secrets, keep them: a
    known secret that no longer verifies would be renewed) and take a token of each kind."""
    saved = {f"alpha/client/{client_id}": secret for client_id, secret in (known or {}).items()}
    secrets = {c.client_id: c.client_secret for c in ensure_demo(server.services, saved)}
    opaque = _token(server, "demo-client", secrets["demo-client"])
    signed = _token(server, "bench-client", secrets["bench-client"])
    assert signed.count(".") == 2 and opaque.count(".") == 0
    with server.client() as http:
        kids = frozenset(k["kid"] for k in http.get(f"{ALPHA}/connect/jwk_uri").json()["keys"])
    return Held(secrets, opaque, signed, kids)


def introspect(server: InProcessServer, held: Held, token: str, client_id: str) -> dict[str, object]:
    with server.client() as http:
        r = http.post(f"{ALPHA}/introspect", data={"token": token, "client_id": client_id,
                                                  "client_secret": held.secrets[client_id]})
    assert r.status_code == 200, r.text  # the client's secret still authenticates
    return dict(r.json())


def assert_still_good(server: InProcessServer, held: Held) -> None:
    """On `server`: both tokens introspect active, the JWT verifies with PyJWT against the published key
    set, the same signing keys are published, and both client secrets still authenticate."""
    assert introspect(server, held, held.opaque, "demo-client")["active"] is True
    assert introspect(server, held, held.jwt, "bench-client")["active"] is True
    with server.client() as http:
        keys = http.get(f"{ALPHA}/connect/jwk_uri").json()["keys"]
    assert held.kids <= {k["kid"] for k in keys}
    kid = jwt.get_unverified_header(held.jwt)["kid"]
    public = jwt.PyJWK({k["kid"]: k for k in keys}[kid])
    claims = jwt.decode(held.jwt, public, algorithms=["ES256"], options={"verify_aud": False})
    assert claims["client_id"] == "bench-client"
    for client_id, secret in held.secrets.items():
        _token(server, client_id, secret)
