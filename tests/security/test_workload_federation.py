"""Workload identity federation over HTTP: an agent authenticates with a platform token (a Kubernetes
service-account token, a SPIFFE JWT-SVID) signed by a key the realm trusts, as `client_assertion`
(RFC 7523 §2.2) or as the jwt-bearer grant (§2.1), with no secret. Each refusal is the RFC's error:
`invalid_client` for a client assertion, `invalid_grant` for the grant's assertion."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from credo.domain.settings import GRANT_CLIENT_CREDENTIALS, GRANT_JWT_BEARER
from credo.keys.remote_jwks import RemoteJwks
from credo.management.agents import create_agent, update_agent
from credo.management.clients import create_client
from credo.management.realms import ensure_realm
from tests.factories import Signer, assert_oauth_error, now, realm_settings
from tests.security.test_registration_jwks_uri import _Jwks
from tests.signin import resource_server
from tests.support import Server

K8S = "https://kubernetes.default.svc.cluster.local"
SPIFFE = "https://spire.example.org"
K8S_SUB = "system:serviceaccount:monitoring:log-analyzer"
SPIFFE_SUB = "spiffe://example.org/ns/prod/sa/indexer"
AUDIENCE = "credo"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
RESOURCE = "https://logs.example/api"


@pytest.fixture
def platform(sqlite_server: Server) -> Iterator[tuple[Server, Signer, Signer, _Jwks]]:
    """Realm `wif` trusting a Kubernetes issuer (inline JWKS) and a SPIFFE issuer (jwks_uri on loopback)."""
    services = sqlite_server.services
    ensure_realm(services, "wif")
    k8s, spire = Signer(), Signer()
    served = _Jwks(spire.jwks)
    services.remote_jwks = RemoteJwks(allow_private=True)  # test only: the key set is served on loopback
    realm_settings(services, "wif", grant_types=(GRANT_CLIENT_CREDENTIALS, GRANT_JWT_BEARER), federation={
        "workload_issuers": [
            {"issuer": K8S, "jwks": k8s.jwks, "audiences": [AUDIENCE], "subjects": {K8S_SUB: "log-analyzer"}},
            {"issuer": SPIFFE, "jwks_uri": served.url, "subjects": {SPIFFE_SUB: "indexer"}},
        ]})
    for agent in ("log-analyzer", "indexer"):
        create_agent(services, "wif", agent, name=agent, scopes=("logs-read",),
                     grant_types=(GRANT_CLIENT_CREDENTIALS, GRANT_JWT_BEARER))
    create_client(services, "wif", "plain-service", scopes=("logs-read",), grant_types=(GRANT_JWT_BEARER,))
    resource_server(services, "wif", "logs-api", RESOURCE)
    try:
        yield sqlite_server, k8s, spire, served
    finally:
        served.httpd.shutdown()
        served.httpd.server_close()


def k8s_token(signer: Signer, **changes: Any) -> str:
    claims: dict[str, Any] = {"iss": K8S, "sub": K8S_SUB, "aud": [AUDIENCE], "iat": now(), "exp": now() + 600,
                              "jti": uuid.uuid4().hex}
    claims.update(changes)
    return signer.sign({k: v for k, v in claims.items() if v is not None})


def as_client_assertion(http: Any, base: str, token: str, **extra: str) -> Any:
    return http.post(f"{base}/access_token", data={"grant_type": "client_credentials", "client_assertion": token,
                                                    "client_assertion_type": ASSERTION_TYPE, **extra})


def as_grant(http: Any, base: str, token: str, **extra: str) -> Any:
    return http.post(f"{base}/access_token", data={"grant_type": GRANT_JWT_BEARER, "assertion": token, **extra})


def introspect(server: Server, http: Any, token: str) -> dict[str, Any]:
    r = http.post(f"{server.realm_url('wif')}/introspect", data={"token": token, "client_id": "logs-api",
                                                                  "client_secret": "application-secret-0123456789"})
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_platform_tokens_authenticate_agents_without_secrets(platform: tuple[Server, Signer, Signer, _Jwks]) -> None:
    server, k8s, spire, served = platform
    base = server.realm_url("wif")
    with server.client() as http:
        r = as_client_assertion(http, base, k8s_token(k8s), scope="logs-read", resource=RESOURCE)
        assert r.status_code == 200, r.text
        seen = introspect(server, http, r.json()["access_token"])
        assert seen["active"] is True and seen["sub"] == seen["client_id"] == "log-analyzer"
        assert seen["aud"] == RESOURCE and seen["scope"] == "logs-read"
        r = as_grant(http, base, k8s_token(k8s), resource=RESOURCE)
        assert r.status_code == 200, r.text
        assert introspect(server, http, r.json()["access_token"])["client_id"] == "log-analyzer"
        # The SPIFFE issuer's keys come from its jwks_uri (fetched once, then cached); the audience defaults
        # to the realm's issuer.
        svid = spire.sign({"iss": SPIFFE, "sub": SPIFFE_SUB, "aud": base, "exp": now() + 300})
        r = as_grant(http, base, svid, resource=RESOURCE)
        assert r.status_code == 200, r.text
        assert introspect(server, http, r.json()["access_token"])["sub"] == "indexer"
        assert served.hits == 1


def test_client_assertion_refusals_are_invalid_client(platform: tuple[Server, Signer, Signer, _Jwks]) -> None:
    server, k8s, _, _ = platform
    base = server.realm_url("wif")
    services = server.services
    with server.client() as http:
        def refused(token: str, **extra: str) -> None:
            assert_oauth_error(as_client_assertion(http, base, token, **extra), 401, "invalid_client")

        refused(Signer().sign({"iss": "https://unknown.example", "sub": K8S_SUB, "aud": AUDIENCE, "exp": now() + 60}))
        refused(k8s_token(k8s, aud="someone-else"))
        refused(k8s_token(k8s, exp=now() - 1))
        refused(k8s_token(k8s, sub="system:serviceaccount:monitoring:other"))
        refused(k8s_token(Signer(kid=k8s.kid)))  # signed by a key the realm does not trust
        refused(k8s_token(k8s), client_id="indexer")  # another agent than the one the token maps to
        replayed = k8s_token(k8s)
        assert as_client_assertion(http, base, replayed).status_code == 200
        refused(replayed)
        http.post(f"{base}/access_token", data={})  # nothing
        token = k8s_token(k8s)
        assert_oauth_error(as_client_assertion(http, base, token, client_assertion_type="urn:other"), 401,
                           "invalid_client")
        update_agent(services, "wif", "log-analyzer", {"enabled": False})
        refused(k8s_token(k8s))


def test_jwt_bearer_refusals_are_invalid_grant(platform: tuple[Server, Signer, Signer, _Jwks]) -> None:
    server, k8s, spire, _ = platform
    base = server.realm_url("wif")
    services = server.services
    with server.client() as http:
        def refused(token: str, **extra: str) -> None:
            assert_oauth_error(as_grant(http, base, token, **extra), 400, "invalid_grant")

        refused(Signer().sign({"iss": "https://unknown.example", "sub": K8S_SUB, "aud": AUDIENCE, "exp": now() + 60}))
        refused(k8s_token(k8s, aud=base))  # this issuer's tokens must name the configured audience
        refused(spire.sign({"iss": SPIFFE, "sub": SPIFFE_SUB, "aud": "https://elsewhere.example", "exp": now() + 60}))
        refused(k8s_token(k8s, exp=now() - 1))
        refused(k8s_token(k8s, exp=None))  # no expiry: refused
        refused(k8s_token(k8s, sub="system:serviceaccount:monitoring:other"))
        refused("not-a-jwt")
        replayed = k8s_token(k8s)
        assert as_grant(http, base, replayed).status_code == 200
        refused(replayed)
        update_agent(services, "wif", "log-analyzer", {"enabled": False})
        refused(k8s_token(k8s))


def test_subject_mapped_to_a_non_agent_is_refused(platform: tuple[Server, Signer, Signer, _Jwks]) -> None:
    server, k8s, _, _ = platform
    realm_settings(server.services, "wif", federation={"workload_issuers": [
        {"issuer": K8S, "jwks": k8s.jwks, "audiences": [AUDIENCE], "subjects": {K8S_SUB: "plain-service"}}]})
    with server.client() as http:
        assert_oauth_error(as_grant(http, server.realm_url("wif"), k8s_token(k8s)), 400, "invalid_grant")


def test_jwks_uri_refused_without_the_private_address_allowance(platform: tuple[Server, Signer, Signer, _Jwks]) -> None:
    server, _, spire, served = platform
    server.services.remote_jwks = RemoteJwks()  # production: a loopback jwks_uri is never contacted
    base = server.realm_url("wif")
    svid = spire.sign({"iss": SPIFFE, "sub": SPIFFE_SUB, "aud": base, "exp": now() + 300})
    with server.client() as http:
        assert_oauth_error(as_grant(http, base, svid), 400, "invalid_grant")
    assert served.hits == 0


def test_workload_token_with_another_clients_credentials(platform: tuple[Server, Signer, Signer, _Jwks]) -> None:
    """A client that authenticated with its own secret cannot redeem an agent's workload token."""
    server, k8s, _, _ = platform
    services = server.services
    _, secret = create_agent(services, "wif", "other-agent", name="other", scopes=("logs-read",),
                             grant_types=(GRANT_JWT_BEARER,))
    assert secret is not None
    with server.client() as http:
        r = as_grant(http, server.realm_url("wif"), k8s_token(k8s), client_id="other-agent", client_secret=secret)
        assert_oauth_error(r, 400, "invalid_grant")
