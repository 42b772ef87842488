"""private_key_jwt (RFC 7523 §2.2): a client registered with its public keys authenticates with a JWT it
signed, at the token, introspection and revocation endpoints; every refusal is `invalid_client` (401), and
registration refuses bad keys and algorithms with `invalid_client_metadata`."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from credo.domain.clock import FrozenClock
from credo.management.agents import create_agent
from credo.management.applications import create_application
from credo.management.clients import create_client
from credo.oauth.client_assertion import ASSERTION_TYPE
from tests.conftest import SQL_BACKENDS
from tests.factories import Signer, assert_oauth_error, demo_secrets, realm_settings, register
from tests.support import InProcessServer, in_process_server, make_storage

SCOPE = "data-read"


def assertion(signer: Signer, client_id: str, aud: str, **changes: Any) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {"iss": client_id, "sub": client_id, "aud": aud, "exp": now + 120, "iat": now,
                              "jti": uuid.uuid4().hex}
    claims.update(changes)
    return signer.sign({k: v for k, v in claims.items() if v is not None})


def cc(http: httpx.Client, base: str, value: str, **extra: str) -> httpx.Response:
    return http.post(f"{base}/access_token", data={"grant_type": "client_credentials", "client_assertion": value,
                                                   "client_assertion_type": ASSERTION_TYPE, **extra})


def refused(r: httpx.Response) -> None:
    assert_oauth_error(r, 401, "invalid_client")
    assert r.json()["error_description"] == "Client authentication failed."


@pytest.fixture
def lenient(tmp_path: Path) -> Iterator[InProcessServer]:
    """Credo on SQLite with the demo realms, whose failure throttle lets a test try every refusal."""
    with make_storage("sqlite", tmp_path) as storage, in_process_server(
            storage, tmp_path, auth_failure_limit=1000, auth_identity_failure_limit=1000) as server:
        demo_secrets(server.services)
        yield server


@pytest.fixture
def setup(lenient: InProcessServer) -> tuple[InProcessServer, str, Signer, str]:
    """A client registered by DCR with its key (open registration) in realm alpha."""
    sqlite_server = lenient
    realm_settings(sqlite_server.services, "alpha", allow_open_registration=True,
                   registration_scope_allowlist=("openid", SCOPE))
    signer = Signer()
    base = sqlite_server.realm_url("alpha")
    with sqlite_server.client() as http:
        reg = register(http, base, {"client_name": "keyed", "token_endpoint_auth_method": "private_key_jwt",
                                    "jwks": signer.jwks, "scope": SCOPE})
    assert reg["token_endpoint_auth_method"] == "private_key_jwt" and "client_secret" not in reg
    return sqlite_server, base, signer, reg["client_id"]


def test_token_introspection_and_revocation(setup: tuple[InProcessServer, str, Signer, str]) -> None:
    server, base, signer, cid = setup
    issuer = base  # the realm's issuer is its base URL
    with server.client() as http:
        r = cc(http, base, assertion(signer, cid, issuer), scope=SCOPE)
        assert r.status_code == 200, r.text
        token = r.json()["access_token"]
        # The endpoint's own URL is an accepted audience too; client_id may be sent and must match.
        r2 = cc(http, base, assertion(signer, cid, f"{base}/access_token"), client_id=cid)
        assert r2.status_code == 200, r2.text
        seen = http.post(f"{base}/introspect", data={"token": token, "client_assertion": assertion(
            signer, cid, f"{base}/introspect"), "client_assertion_type": ASSERTION_TYPE})
        assert seen.status_code == 200 and seen.json()["active"] is True and seen.json()["client_id"] == cid
        gone = http.post(f"{base}/token/revoke", data={"token": token, "client_assertion": assertion(
            signer, cid, issuer), "client_assertion_type": ASSERTION_TYPE})
        assert gone.status_code == 200, gone.text
        # The introspection endpoint's URL is not an audience at the revocation endpoint.
        refused(http.post(f"{base}/token/revoke", data={"token": token, "client_assertion": assertion(
            signer, cid, f"{base}/introspect"), "client_assertion_type": ASSERTION_TYPE}))
    with server.client() as http:
        meta = http.get(f"{base}/.well-known/openid-configuration").json()
    assert "private_key_jwt" in meta["token_endpoint_auth_methods_supported"]
    assert "private_key_jwt" in meta["introspection_endpoint_auth_methods_supported"]
    algs = meta["token_endpoint_auth_signing_alg_values_supported"]
    assert "ES256" in algs and "RS256" in algs and not any(a.startswith("HS") or a == "none" for a in algs)


def test_every_refusal_is_invalid_client(setup: tuple[InProcessServer, str, Signer, str]) -> None:
    server, base, signer, cid = setup
    now = int(time.time())
    other = Signer(kid=signer.kid)  # the same kid, another key
    with server.client() as http:
        once = assertion(signer, cid, base)
        assert cc(http, base, once).status_code == 200
        refused(cc(http, base, once))  # replayed jti
        refused(cc(http, base, assertion(signer, cid, "https://elsewhere.example/token")))  # wrong aud
        refused(cc(http, base, assertion(signer, cid, f"{base}/introspect")))  # another endpoint's URL
        refused(cc(http, base, assertion(signer, cid, base, exp=None)))  # no exp
        refused(cc(http, base, assertion(signer, cid, base, exp=now + 3600)))  # exp not short
        refused(cc(http, base, assertion(signer, cid, base, exp=now - 5, iat=now - 100)))  # expired
        refused(cc(http, base, assertion(signer, cid, base, jti=None)))  # no jti
        refused(cc(http, base, assertion(signer, cid, base, nbf=now + 600)))  # not yet valid
        refused(cc(http, base, assertion(signer, cid, base, iat=now + 600)))  # issued in the future
        refused(cc(http, base, assertion(other, cid, base)))  # a key the client did not register
        refused(cc(http, base, assertion(signer, cid, base, sub="someone-else")))  # iss != sub
        refused(cc(http, base, assertion(signer, cid, base), client_id="another-client"))  # client_id differs
        refused(cc(http, base, assertion(signer, "no-such-client", base, sub="no-such-client")))
        hs = jwt.encode({"iss": cid, "sub": cid, "aud": base, "exp": now + 60, "jti": "h"}, "k" * 32, algorithm="HS256")
        refused(cc(http, base, hs))  # a symmetric algorithm
        none = jwt.encode({"iss": cid, "sub": cid, "aud": base, "exp": now + 60, "jti": "n"}, None,  # type: ignore[arg-type]
                          algorithm="none")
        refused(cc(http, base, none))
        # A key in the header (jwk) is never trusted, even one that verifies the signature.
        refused(cc(http, base, signer.sign({"iss": cid, "sub": cid, "aud": base, "exp": now + 60, "jti": "j"},
                                           headers={"jwk": signer.jwks["keys"][0]})))
        refused(cc(http, base, "not.a.jwt"))
        refused(http.post(f"{base}/access_token", data={"grant_type": "client_credentials", "client_assertion":
                                                        assertion(signer, cid, base), "client_assertion_type": "urn:other"}))
        refused(http.post(f"{base}/access_token", data={"grant_type": "client_credentials",
                                                        "client_assertion_type": ASSERTION_TYPE, "client_id": cid}))
        # Two methods in one request: an assertion with Basic, or with a client_secret.
        refused(http.post(f"{base}/access_token", data={"grant_type": "client_credentials", "client_assertion":
                                                        assertion(signer, cid, base), "client_assertion_type": ASSERTION_TYPE},
                          auth=(cid, "x")))
        refused(cc(http, base, assertion(signer, cid, base), client_secret="x"))
        # The key client may not fall back to no authentication at all.
        refused(http.post(f"{base}/access_token", data={"grant_type": "client_credentials", "client_id": cid}))


def test_assertion_for_a_secret_client_and_the_registered_alg(sqlite_server: InProcessServer,
                                                              sqlite_demo: dict[str, str]) -> None:
    base = sqlite_server.realm_url("alpha")
    services = sqlite_server.services
    signer = Signer()
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rsa_jwk = {**json.loads(RSAAlgorithm.to_jwk(rsa_key.public_key())), "kid": "rsa-1"}
    # A client with both keys that registered RS256: an assertion signed by its EC key is refused.
    create_client(services, "alpha", "pinned-rs256", auth_method="private_key_jwt", scopes=(SCOPE,),
                  keys={"jwks": {"keys": [rsa_jwk, signer.jwks["keys"][0]]}, "token_endpoint_auth_signing_alg": "RS256"})
    # A client registered for a secret that also published keys (RFC 7591 jwks): assertions are not its method.
    realm_settings(services, "alpha", allow_open_registration=True, registration_scope_allowlist=("openid", SCOPE))
    with sqlite_server.client() as http:
        secret_client = register(http, base, {"client_name": "secret with keys", "jwks": signer.jwks,
                                              "token_endpoint_auth_method": "client_secret_basic"})["client_id"]
    create_client(services, "alpha", "pinned-es256", auth_method="private_key_jwt", scopes=(SCOPE,),
                  keys={"jwks": signer.jwks, "token_endpoint_auth_signing_alg": "ES256"})
    with sqlite_server.client() as http:
        # demo-client authenticates with a secret: an assertion naming it is refused whatever it carries.
        refused(cc(http, base, assertion(signer, "demo-client", base)))
        assert cc(http, base, assertion(signer, "pinned-es256", base)).status_code == 200
        rs = jwt.encode({"iss": "pinned-es256", "sub": "pinned-es256", "aud": base, "exp": int(time.time()) + 60,
                         "jti": "r"}, rsa_key, algorithm="RS256", headers={"kid": signer.kid})
        refused(cc(http, base, rs))
        assert cc(http, base, jwt.encode({"iss": "pinned-rs256", "sub": "pinned-rs256", "aud": base, "exp": int(time.time()) + 60,
                                          "jti": "r1"}, rsa_key, algorithm="RS256", headers={"kid": "rsa-1"})).status_code == 200
        refused(cc(http, base, assertion(signer, "pinned-rs256", base)))  # its EC key, but ES256 is not its alg
        refused(cc(http, base, assertion(signer, secret_client, base)))


def test_every_client_kind_and_registration_refusals(sqlite_server: InProcessServer,
                                                     sqlite_demo: dict[str, str]) -> None:
    services = sqlite_server.services
    realm_settings(services, "alpha", allow_open_registration=True, registration_scope_allowlist=("openid", SCOPE))
    base = sqlite_server.realm_url("alpha")
    signer = Signer()
    keys = {"jwks": signer.jwks}
    app, secret = create_application(services, "alpha", "keyed-app", name="Keyed", auth_method="private_key_jwt",
                                     scopes=(SCOPE,), keys=keys)
    _, agent_secret = create_agent(services, "alpha", "keyed-agent", name="Keyed agent",
                                       auth_method="private_key_jwt", scopes=(SCOPE,), keys=keys)
    assert secret is None and agent_secret is None and app.secret_hash is None
    with sqlite_server.client() as http:
        for cid in ("keyed-app", "keyed-agent"):
            r = cc(http, base, assertion(signer, cid, base), scope=SCOPE)
            assert r.status_code == 200, r.text
        agent_reg = http.post(f"{base}/aiagent/register", json={
            "client_name": "dcr agent", "token_endpoint_auth_method": "private_key_jwt", "jwks": signer.jwks,
            "grant_types": ["client_credentials"], "scope": SCOPE})
        assert agent_reg.status_code == 201, agent_reg.text
        assert "client_secret" not in agent_reg.json()
        cid = agent_reg.json()["client_id"]
        assert cc(http, base, assertion(signer, cid, base)).status_code == 200

        def reg(body: dict[str, Any]) -> httpx.Response:
            return http.post(f"{base}/register", json={"client_name": "x", **body})

        for body, fieldname in (
                ({"token_endpoint_auth_method": "private_key_jwt"}, "token_endpoint_auth_method"),
                ({"token_endpoint_auth_method": "private_key_jwt", "jwks": signer.jwks,
                  "token_endpoint_auth_signing_alg": "HS256"}, "token_endpoint_auth_signing_alg"),
                ({"token_endpoint_auth_method": "private_key_jwt", "jwks": signer.jwks,
                  "token_endpoint_auth_signing_alg": "none"}, "token_endpoint_auth_signing_alg"),
                ({"token_endpoint_auth_method": "private_key_jwt",
                  "jwks": {"keys": [{**signer.jwks["keys"][0], "d": "AAAA"}]}}, "jwks"),
                ({"token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [{"kty": "oct", "k": "AAAA"}]}},
                 "jwks"),
                ({"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "http://keys.example/jwks"}, "jwks_uri")):
            r = reg(body)
            assert_oauth_error(r, 400, "invalid_client_metadata")
            assert r.json()["error_description"].startswith(f"{fieldname}:"), r.json()


def test_assertion_expiry_uses_the_server_clock(frozen: tuple[InProcessServer, FrozenClock]) -> None:
    server, clock = frozen
    signer = Signer()
    create_client(server.services, "alpha", "clocked", auth_method="private_key_jwt", keys={"jwks": signer.jwks})
    base = server.realm_url("alpha")
    value = assertion(signer, "clocked", base, exp=clock.now() + 30)
    clock.advance(31)
    with server.client() as http:
        refused(cc(http, base, value))


@pytest.mark.parametrize("kind", SQL_BACKENDS)
def test_an_assertion_used_at_one_server_is_a_replay_at_the_other(tmp_path: Path, kind: str) -> None:
    """Two servers on one database (two processes or nodes of a deployment): a client assertion's `jti` is
    single-use across them, through the shared replay cache, whichever answers first."""
    with make_storage(kind, tmp_path) as storage, in_process_server(storage, tmp_path) as one, \
            in_process_server(storage, tmp_path) as two:
        demo_secrets(one.services)
        signer = Signer()
        create_client(one.services, "alpha", "keyed-twin", auth_method="private_key_jwt", scopes=(SCOPE,),
                      keys={"jwks": signer.jwks})
        base = one.realm_url("alpha")
        assert two.realm_url("alpha") == base  # one issuer: an assertion for one is good at the other
        with one.client() as a, two.client() as b:
            first, second = assertion(signer, "keyed-twin", base), assertion(signer, "keyed-twin", base)
            assert cc(a, base, first).status_code == 200
            refused(cc(b, base, first))
            assert cc(b, base, second).status_code == 200
            refused(cc(a, base, second))
